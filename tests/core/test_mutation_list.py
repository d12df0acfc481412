"""Every mutation in ``mutation_check.py`` still finds its guard, exactly once.

The mutation check takes half an hour and is not run in CI; a change that moves or
rewrites a guard would turn its mutation into a silent skip there. This finds that in
CI, in milliseconds."""

from __future__ import annotations

from pathlib import Path

import mutation_check
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mutation", mutation_check.MUTATIONS, ids=lambda m: m.name)
def test_the_guard_is_in_its_file_once(mutation: mutation_check.Mutation) -> None:
    found = (ROOT / mutation.path).read_text().count(mutation.old)
    assert found == 1, f"{mutation.name}: the guard is in {mutation.path} {found} times"
    assert mutation.new != mutation.old


def test_names_are_unique() -> None:
    names = [m.name for m in mutation_check.MUTATIONS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
