"""Drivers: one per unit kind, each implementing cryoctl's device port.

Found by URL scheme through the ``cryoctl.drivers`` entry-point group.
"""
