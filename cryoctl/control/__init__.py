"""The control process: the asyncio shell around the core, its sleeper, its publisher,
the driver registry, sd_notify (and, with the daemon, the control socket).
"""
