"""Fixtures for the core tests: a wired rig per unit kind."""

from __future__ import annotations

import pytest
from core_rig import Rig, make_rig

from cryoctl.fake_unit import CJ_AIR_CAPABILITIES, N2_CAPABILITIES


@pytest.fixture
def n2_rig() -> Rig:
    return make_rig(N2_CAPABILITIES, nozzle="M")


@pytest.fixture
def air_rig() -> Rig:
    return make_rig(CJ_AIR_CAPABILITIES, nozzle="F20")
