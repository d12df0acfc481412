"""Every file the README and docs/ARCHITECTURE.md name is in the checkout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/ARCHITECTURE.md")
_NAMED = re.compile(
    r"(?:`|\]\()(?P<path>(?:cryoctl|drivers|simulator|docs|systemd|tests|profiles|bench|\.ci)"
    r"/[\w./-]*[\w/])(?:`|\))"
)
#: Named for what the panel page, the benchmarks and the records bring; they arrive
#: with that work, and this list shrinks as they do.
ARRIVING = (re.compile(r"docs/PERFORMANCE\.md"),)


def named_paths(doc: str) -> list[str]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    return sorted({m.group("path") for m in _NAMED.finditer(text)})


@pytest.mark.parametrize("doc", DOCS)
def test_every_named_path_exists(doc: str) -> None:
    named = named_paths(doc)
    assert len(named) > 5, named
    missing = [p for p in named
               if not (ROOT / p).exists() and not any(a.fullmatch(p) for a in ARRIVING)]
    assert missing == [], f"{doc} names what is not in the checkout: {missing}"


def test_the_architecture_picture_is_committed_with_its_source() -> None:
    svg = (ROOT / "docs" / "architecture.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    dot = (ROOT / "docs" / "architecture.dot").read_text(encoding="utf-8")
    for name in ("socket_server.py", "controller.py", "routes/*.py"):
        assert name in dot and name in svg
    assert "](architecture.svg)" in (ROOT / "docs" / "ARCHITECTURE.md").read_text()
