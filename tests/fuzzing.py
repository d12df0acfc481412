"""One fuzz test, two lengths: a few hundred examples in every run, 10 000 behind ``fuzz``.

    @fuzz(200, st.binary(max_size=120))
    def test_random_bytes(data: bytes) -> None: ...

makes ``test_random_bytes[ci]`` (200 examples, in the plain ``python -m pytest``) and
``test_random_bytes[long]`` (``FUZZ_EXAMPLES``, marked ``fuzz``, deselected by the
default ``-m "not fuzz"``). The long run:

    python -m pytest -m fuzz -p no:cacheprovider          # every long fuzz test
    python -m pytest -m fuzz tests/control -k socket      # one area

``CRYOCTL_FUZZ_EXAMPLES`` changes the long run's count.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy

FUZZ_EXAMPLES = int(os.environ.get("CRYOCTL_FUZZ_EXAMPLES", "10000"))
#: The long run's limit per test (the default per-test timeout is a minute).
FUZZ_TIMEOUT_S = 4 * 3600


def sizes(ci_examples: int) -> list[Any]:
    return [pytest.param(ci_examples, id="ci"),
            pytest.param(FUZZ_EXAMPLES, id="long",
                         marks=[pytest.mark.fuzz, pytest.mark.timeout(FUZZ_TIMEOUT_S)])]


def fuzz(ci_examples: int, *strategies: SearchStrategy[Any],
         **named: SearchStrategy[Any]) -> Callable[[Callable[..., None]], Callable[[int], None]]:
    """Turn ``check`` into a test run with ``ci_examples`` examples, and 10 000 under ``fuzz``."""

    def wrap(check: Callable[..., None]) -> Callable[[int], None]:
        def test(examples: int) -> None:
            run = settings(max_examples=examples, deadline=None,
                           suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.data_too_large])(
                given(*strategies, **named)(check))
            run()

        test.__name__ = check.__name__
        test.__qualname__ = check.__qualname__
        test.__module__ = check.__module__
        test.__doc__ = check.__doc__
        marked: Callable[[int], None] = pytest.mark.parametrize(
            "examples", sizes(ci_examples))(test)
        return marked

    return wrap
