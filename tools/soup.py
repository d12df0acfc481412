"""Write docs/SOUP.md, the software of unknown provenance cryoctl runs on, from this environment.

    python tools/soup.py           # rewrite docs/SOUP.md
    python tools/soup.py --check   # exit 1 when docs/SOUP.md differs from what it would write

Runtime packages are cryoctl's own requirements and everything they require in
turn (all of it runs on the device); development packages are the ``dev`` extra's
direct requirements (they never ship). Names and versions come from the installed
distributions (``importlib.metadata``); what each is for and where it runs is kept
below, by hand: a requirement without an entry here stops the generator, so a new
dependency cannot reach the list without a purpose.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import sys
from pathlib import Path
from typing import Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT: Final = Path(__file__).resolve().parents[1]
TARGET: Final = ROOT / "docs" / "SOUP.md"
PROJECT: Final = "cryoctl"

CONTROL: Final = "control process"
PANEL: Final = "panel server"
BOTH: Final = "both"
DEV: Final = "dev only"

#: Runtime requirements of cryoctl itself: what each does, and in which process.
DIRECT_RUNTIME: Final[dict[str, tuple[str, str]]] = {
    "pyserial": ("Serial port access for the N2 line protocol and Modbus RTU", CONTROL),
    "pymodbus": ("Modbus RTU/TCP client of the CJ-Air driver", CONTROL),
    "transitions": ("The treatment state machine as a table", CONTROL),
    "structlog": ("Structured logging (JSON lines to journald)", BOTH),
    "pydantic": ("Config, profile and control-socket message models and validation", BOTH),
    "click": ("The cryoctl command line", BOTH),
    "fastapi": ("The panel's HTTP/WebSocket API and its OpenAPI description", PANEL),
    "uvicorn": ("The ASGI server the panel API runs in", PANEL),
    "websockets": ("uvicorn's WebSocket protocol (the panel's event stream)", PANEL),
    "prometheus-client": ("The panel server's /metrics", PANEL),
    "cryptography": ("Ed25519 verification of signed profiles (signing on the vendor side)",
                     BOTH),
}

#: What the runtime requirements pull in; where each runs follows from who needs it.
TRANSITIVE_PURPOSE: Final[dict[str, str]] = {
    "pydantic-core": "pydantic's validation core (Rust)",
    "annotated-types": "Constraint types used by pydantic",
    "typing-extensions": "Backports of typing features",
    "typing-inspection": "Runtime inspection of type annotations for pydantic",
    "starlette": "The ASGI toolkit under FastAPI (routing, requests, responses)",
    "anyio": "Async compatibility layer under Starlette and FastAPI",
    "idna": "Internationalised domain names for anyio",
    "sniffio": "Async library detection for anyio",
    "h11": "HTTP/1.1 protocol for uvicorn",
    "annotated-doc": "Documentation metadata in FastAPI's annotations",
    "opentelemetry-api": "Tracing API FastAPI requires (no exporter is configured)",
    "six": "Python 2/3 compatibility used by transitions",
    "cffi": "C foreign-function interface under cryptography",
    "pycparser": "C parser used by cffi",
}

#: The dev extra: what each is for (all dev only, never on the device).
DEV_PURPOSE: Final[dict[str, str]] = {
    "pytest": "Test runner",
    "pytest-mock": "Fixtures for the few mocks where nothing real can stand in",
    "pytest-asyncio": "Async tests",
    "pytest-timeout": "A timeout on every test",
    "hypothesis": "Property-based tests and fuzzing of codecs, profiles and messages",
    "ruff": "Linter",
    "mypy": "Static type checker",
    "import-linter": "Checks the import rules between packages",
    "httpx": "HTTP client of the API tests",
    "setuptools": "Build backend, and the packaging tests",
    "schemathesis": "Tests the panel API against its own OpenAPI description",
    "playwright": "Drives Chromium through the touch panel in the browser tests",
}


class SoupError(Exception):
    pass


def _requirements(dist: str, extra: str = "") -> list[str]:
    """Names ``dist`` requires in this environment (with ``extra``, only that extra's)."""
    names = []
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        plain = req.marker is None or req.marker.evaluate({"extra": ""})
        if extra:
            if plain or not req.marker.evaluate({"extra": extra}):  # type: ignore[union-attr]
                continue
        elif not plain:
            continue
        names.append(canonicalize_name(req.name))
    return names


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        raise SoupError(f"{name} is required but not installed "
                        "(pip install -c constraints.txt -e '.[dev]')") from None


def runtime_rows() -> list[tuple[str, str, str, str]]:
    """(name, version, purpose, where) for every runtime package, direct ones first."""
    where: dict[str, set[str]] = {}
    direct = _requirements(PROJECT)
    for name in direct:
        if name not in DIRECT_RUNTIME:
            raise SoupError(f"{name}: a runtime requirement without a purpose in tools/soup.py")
        place = DIRECT_RUNTIME[name][1]
        places = {CONTROL, PANEL} if place == BOTH else {place}
        stack = [name]
        while stack:
            current = stack.pop()
            known = where.setdefault(current, set())
            if places <= known and current != name:
                continue
            known |= places
            stack.extend(_requirements(current))
    rows = []
    for name in sorted(where, key=lambda n: (n not in direct, n)):
        if name in DIRECT_RUNTIME:
            purpose = DIRECT_RUNTIME[name][0]
        elif name in TRANSITIVE_PURPOSE:
            purpose = TRANSITIVE_PURPOSE[name]
        else:
            raise SoupError(f"{name}: required at run time but has no purpose in tools/soup.py")
        places = where[name]
        shown = BOTH if places == {CONTROL, PANEL} else next(iter(places))
        kind = "direct" if name in direct else "transitive"
        rows.append((name, _version(name), f"{purpose} ({kind})", shown))
    return rows


def dev_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for name in sorted(set(_requirements(PROJECT, "dev"))):
        if name not in DEV_PURPOSE:
            raise SoupError(f"{name}: a dev requirement without a purpose in tools/soup.py")
        rows.append((name, _version(name), DEV_PURPOSE[name], DEV))
    return rows


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    lines = ["| package | version | purpose | runs in |", "|---|---|---|---|"]
    lines += [f"| {name} | {version} | {purpose} | {where} |"
              for name, version, purpose, where in rows]
    return lines


def render() -> str:
    lines = [
        "# SOUP: the third-party software cryoctl runs on",
        "",
        "Generated by `python tools/soup.py` from the installed environment; do not edit.",
        "`tests/test_soup.py` fails when this file no longer matches it. Python itself "
        f"({sys.version_info.major}.{sys.version_info.minor}) and the operating system are "
        "not listed.",
        "",
        "## Runtime (on the device)",
        "",
        "\"control process\" is `cryoctl run` (the loop, the driver, the socket), \"panel "
        "server\" is `cryoctl panel`; both import the shared config, profile and CLI code.",
        "",
        *_table(runtime_rows()),
        "",
        "## Development only (tests, linting; never installed on the device)",
        "",
        *_table(dev_rows()),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the file instead of writing it")
    parser.add_argument("--file", type=Path, default=TARGET, help="default: docs/SOUP.md")
    args = parser.parse_args(argv)
    target: Path = args.file
    try:
        text = render()
    except SoupError as exc:
        print(f"tools/soup.py: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is stale: run python tools/soup.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
