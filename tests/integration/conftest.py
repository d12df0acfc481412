"""Integration tests import their rig (wire_rig.py) from this folder."""

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _no_frame_by_frame_log() -> Iterator[None]:
    """Info and up only: the drivers trace every frame at debug level, which at 50 Hz
    costs the real-time loop more than the frames do. Restored after the test."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        yield
    finally:
        structlog.configure(**saved)
