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


CONSTRAINTS = ROOT / "constraints.txt"
PROJECT = "cryoctl"
REINSTALL = "pip install -c constraints.txt -e '.[dev]'"


def _pins() -> dict[str, str]:
    pins = {}
    for number, line in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        name, sep, version = text.partition("==")
        assert sep and version, f"constraints.txt:{number}: {line!r} is not name==version"
        pins[canonicalize_name(name)] = version
    return pins


def _closure() -> set[str]:
    """cryoctl[dev] and everything it requires, as installed here."""
    seen: set[str] = set()
    stack = [(PROJECT, "dev")]
    while stack:
        name, extra = stack.pop()
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue
            key = canonicalize_name(req.name)
            if key not in seen:
                seen.add(key)
                stack.append((key, ""))
    return seen


def test_everything_cryoctl_runs_on_is_pinned_and_installed_at_its_pin() -> None:
    pins = _pins()
    unpinned = sorted(_closure() - set(pins))
    assert not unpinned, f"constraints.txt pins no version of {', '.join(unpinned)}"
    drifted = [f"{name} {metadata.version(name)} (constraints.txt: {pin})"
               for name, pin in sorted(pins.items()) if metadata.version(name) != pin]
    assert not drifted, f"installed, not at the pinned version: {'; '.join(drifted)}; {REINSTALL}"


def test_the_soup_lists_the_pinned_versions() -> None:
    pins = _pins()
    for line in SOUP.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| package"):
            name, version = line.strip("| ").split(" | ")[:2]
            assert pins.get(canonicalize_name(name)) == version, line
