"""Shared test configuration."""

import importlib.util
import logging
import os
import sys

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
            "(pip install -e '.[dev]')")


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
