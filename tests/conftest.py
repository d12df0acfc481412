"""Shared test configuration."""

import faulthandler
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from typing import IO

import pytest
from hypothesis import Phase, settings


def _not_installed() -> str | None:
    """Why this Python cannot run the suite: cryoctl imported from the folder, not installed.

    Found from the checkout alone, ``cryoctl`` imports but its shipped profiles
    (``cryoctl.profiles``, mapped from ``profiles/`` at install) and its entry points
    (``cryoctl sim``, the drivers) do not: the usual cause is a new terminal where
    the virtual environment is not active.
    """
    try:
        if importlib.util.find_spec("cryoctl.profiles") is not None:
            return None
    except ModuleNotFoundError:  # not even the folder's cryoctl
        pass
    return (f"cryoctl is not installed in this Python ({sys.executable}): activate the "
            "virtual environment first (. .venv/bin/activate), or install it there "
            "(pip install -c constraints.txt -e '.[dev]')")


#: How long past its own timeout a test may go on before the run is ended. A test
#: pytest-timeout cannot stop (its Failed caught by Hypothesis, which then replays
#: the example that hung; a call blocked in C) would otherwise hold the run until
#: CI's limit, with nothing printed; this dumps every thread's stack and exits.
HANG_GRACE_S = float(os.environ.get("CRYOCTL_HANG_GRACE_S", "180"))
_hang_out: IO[str] | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _hang_out
    # The terminal's stderr: output capture is suspended while plugins are configured.
    _hang_out = os.fdopen(os.dup(2), "w")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _hang_out
    faulthandler.cancel_dump_traceback_later()
    if _hang_out is not None:
        _hang_out.close()
        _hang_out = None


def _timeout_s(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None:
        value = marker.args[0] if marker.args else marker.kwargs.get("timeout", 0)
        return float(value or 0)
    return float(item.config.getoption("timeout", None) or item.config.getini("timeout") or 0)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if _hang_out is not None:
        faulthandler.dump_traceback_later(_timeout_s(item) + HANG_GRACE_S, exit=True,
                                          file=_hang_out)
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


def pytest_sessionstart(session: pytest.Session) -> None:
    why_not = _not_installed()
    if why_not is not None:
        pytest.exit(why_not, returncode=4)


settings.register_profile("ci", deadline=None, print_blob=True)
# For tests/core/mutation_check.py: find a failure, do not spend minutes shrinking it.
settings.register_profile(
    "mutation", settings.get_profile("ci"), phases=[Phase.explicit, Phase.reuse, Phase.generate]
)
settings.load_profile(os.environ.get("CRYOCTL_HYPOTHESIS_PROFILE", "ci"))
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
