"""``cryoctl profile``: validate, list, show and install treatment profiles.

Exit status 0 when all went well, 1 when a profile is invalid or refused (one line
per problem, naming the file, the line where known, the key path and the rule),
2 for a usage error. Never a traceback for a bad file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from cryoctl.cli._table import table
from cryoctl.errors import ProfileError
from cryoctl.profile import LoadedProfile, load_profile
from cryoctl.profile.store import (
    DEFAULT_PROFILE_DIR,
    PROFILE_DIR_ENV,
    Installed,
    catalogue,
    install_profile,
)

_DIR_OPTION = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_PROFILE_DIR,
    envvar=PROFILE_DIR_ENV,
    show_default=True,
    show_envvar=True,
    help="Folder of installed profiles.",
)


@click.group("profile")
def command() -> None:
    """Validate, list, show and install treatment profiles."""


@command.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
def validate(files: tuple[str, ...]) -> None:
    """Check profile FILEs against the models, rules and hard ceilings."""
    failed = False
    for name in files:
        try:
            loaded = load_profile(name)
        except ProfileError as exc:
            failed = True
            for problem in exc.problems:
                click.echo(problem)
        else:
            click.echo(f"ok {loaded.identity}")
    if failed:
        raise SystemExit(1)


@command.command("list")
@_DIR_OPTION
def list_(directory: Path) -> None:
    """List the shipped and the installed profiles."""
    profiles, problems = catalogue(directory)
    for problem in problems:
        click.echo(f"skipped: {problem}", err=True)
    rows = [("NAME", "VERSION", "DEVICE", "KIND", "ZONES", "SHA256", "SOURCE")]
    for loaded in profiles:
        meta = loaded.profile.meta
        source = "shipped" if loaded.source.startswith("shipped:") else loaded.source
        rows.append((meta.name, f"v{meta.version}", meta.device.value, meta.kind.value,
                     str(len(loaded.profile.zones)), loaded.sha256_prefix, source))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]))


def _find(target: str, directory: Path) -> LoadedProfile:
    """A profile by file path, or by name (its highest version; shipped first on a tie)."""
    if os.sep in target or target.endswith(".toml") or os.path.exists(target):
        return load_profile(target)
    profiles, _ = catalogue(directory)
    matches = [p for p in profiles if p.name == target]
    if not matches:
        known = ", ".join(sorted({p.name for p in profiles})) or "none"
        raise ProfileError(f"{target}: no such profile (known: {known})")
    best = max(p.version for p in matches)
    return next(p for p in matches if p.version == best)


def _human(loaded: LoadedProfile) -> list[str]:
    p = loaded.profile
    m, s = p.meta, p.session
    settings = ", ".join(f"{key} {value}" for key, value in p.device.model_dump().items())
    limits = [f"at most {s.max_session_s:g} s"]
    if s.max_cryogen_g is not None:
        limits.append(f"LN2 at most {s.max_cryogen_g:g} g")
    limits.append(f"at least {s.min_interval_h:g} h between sessions")
    if s.max_course_sessions is not None:
        limits.append(f"at most {s.max_course_sessions} sessions a course")
    if s.requires_cold_test:
        limits.append("cold test required")
    zones = [("#", "name", "max_dwell_s", "max_total_s", "passes", "rest_s", "repeat")]
    zones += [(str(i), z.name, f"{z.max_dwell_s:g}", f"{z.max_total_s:g}", str(z.passes),
               f"{z.rest_s:g}", str(z.repeat)) for i, z in enumerate(p.zones)]
    lines = [
        f"{loaded.identity}  ({loaded.source})",
        f"{m.title}: {m.device.value}, {m.kind.value}",
        m.description,
        f"device: {settings}",
        "session: " + "; ".join(limits),
        "checklist:",
        *(f"  - {item}" for item in s.checklist),
        "zones:",
        *table(zones, indent="  "),
        "references:",
        *(f"  - {ref}" for ref in m.references),
    ]
    return lines


@command.command("show")
@click.argument("target", metavar="NAME|FILE")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
@_DIR_OPTION
def show(target: str, as_json: bool, directory: Path) -> None:
    """Show a profile, by name (shipped or installed) or by file."""
    try:
        loaded = _find(target, directory)
    except ProfileError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    if as_json:
        document = {
            "identity": loaded.identity,
            "sha256": loaded.sha256,
            "source": loaded.source,
            "profile": loaded.profile.model_dump(mode="json", by_alias=True),
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        for line in _human(loaded):
            click.echo(line)


@command.command("install")
@click.argument("file", type=click.Path(path_type=str))
@_DIR_OPTION
def install(file: str, directory: Path) -> None:
    """Validate FILE and install it as NAME-vVERSION.toml."""
    try:
        result = install_profile(file, directory)
    except ProfileError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    except OSError as exc:
        where = exc.filename or directory
        click.echo(f"{file}: cannot install into {where}: {exc.strerror or exc} (name the "
                   f"folder with --dir or ${PROFILE_DIR_ENV}; a simulated device's is the "
                   "profiles/ folder of its state directory)", err=True)
        raise SystemExit(1) from None
    if result.outcome is Installed.WRITTEN:
        click.echo(f"installed {result.loaded.identity} as {result.path}")
    else:
        click.echo(f"unchanged {result.loaded.identity}: already {result.note}")
