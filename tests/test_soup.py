"""docs/SOUP.md is what tools/soup.py makes of the installed environment, and lists it all."""

from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "soup.py"
SOUP = ROOT / "docs" / "SOUP.md"


def _soup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_soup_md_is_current() -> None:
    out = _soup("--check")
    assert out.returncode == 0, out.stderr


def test_every_requirement_is_listed_with_its_installed_version() -> None:
    text = SOUP.read_text(encoding="utf-8")
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| package")}
    for requirement in metadata.requires("cryoctl") or []:
        name = canonicalize_name(Requirement(requirement).name)
        assert name in rows, name
        assert f"| {metadata.version(name)} |" in rows[name], rows[name]
        where = rows[name].rstrip(" |").rsplit(" | ", 1)[1]
        assert where in ("control process", "panel server", "both", "dev only"), rows[name]


def test_a_stale_copy_is_found(tmp_path: Path) -> None:
    stale = tmp_path / "SOUP.md"
    stale.write_text(SOUP.read_text(encoding="utf-8").replace("| pydantic | ", "| pydantic | 0"))
    out = _soup("--check", "--file", str(stale))
    assert out.returncode == 1
    assert out.stderr.strip() == f"{stale} is stale: run python tools/soup.py"
    assert _soup("--file", str(stale)).returncode == 0
    assert stale.read_text(encoding="utf-8") == SOUP.read_text(encoding="utf-8")
