"""cryoctl — the controller service of a cryotherapy device.

The core (this package) decides whether cold may flow. It knows hardware only
through :mod:`cryoctl.core.port`; drivers are found by URL scheme through the
``cryoctl.drivers`` entry-point group.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
