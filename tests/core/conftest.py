"""Fixtures for the core tests: a wired rig per unit kind; every rig is closed after its test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from core_rig import OPEN_RIGS, Rig, make_rig

from cryoctl.core.fake_unit import CJ_AIR_CAPABILITIES, N2_CAPABILITIES


@pytest.fixture(autouse=True)
def _close_rigs() -> Iterator[None]:
    yield
    for rig in list(OPEN_RIGS):
        rig.close()


@pytest.fixture
def n2_rig() -> Rig:
    return make_rig(N2_CAPABILITIES, nozzle="M")


@pytest.fixture
def air_rig() -> Rig:
    return make_rig(CJ_AIR_CAPABILITIES, nozzle="F20")
