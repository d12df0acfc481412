"""The service tests import their rig from this folder and report the units' exposure."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

_EXPOSURE = pytest.StashKey[dict[str, float]]()


@pytest.fixture
def exposure_scores(request: pytest.FixtureRequest) -> dict[str, float]:
    """Where the security test leaves each unit's score for the summary below."""
    return request.config.stash.setdefault(_EXPOSURE, {})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    scores = config.stash.get(_EXPOSURE, {})
    if scores:
        terminalreporter.section("systemd-analyze security --offline=true")
        for unit, score in sorted(scores.items()):
            terminalreporter.write_line(f"{unit}: overall exposure {score:.1f} (at most 2.0)")
