"""Find a driver by the scheme of a unit URL, through the ``cryoctl.drivers`` entry points.

The core never imports a driver; a missing driver is an error, never a fall-back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.metadata import entry_points
from urllib.parse import urlsplit

from cryoctl.core.port import DevicePort, DriverFactory
from cryoctl.errors import AddressError

DRIVER_GROUP = "cryoctl.drivers"


def known_schemes() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=DRIVER_GROUP))


def driver_for(url: str) -> DriverFactory:
    """The driver class registered for ``url``'s scheme."""
    scheme = urlsplit(url).scheme
    if not scheme:
        raise AddressError(f"{url}: not a unit URL (expected SCHEME://..., e.g. modbus+tcp://HOST:PORT)")
    found = [ep for ep in entry_points(group=DRIVER_GROUP) if ep.name == scheme]
    if not found:
        raise AddressError(
            f"{url}: unknown scheme {scheme!r} (known: {', '.join(known_schemes()) or 'none'})"
        )
    factory: DriverFactory = found[0].load()
    return factory


def open_unit(url: str, *, clock: Callable[[], float] = time.monotonic) -> DevicePort:
    """A driver for ``url``, not yet connected."""
    return driver_for(url).from_url(url, clock=clock)
