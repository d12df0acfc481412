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
from click.core import ParameterSource

from cryoctl.cli._options import config_option
from cryoctl.cli._table import table
from cryoctl.config import DEFAULT_CONFIG_PATH, Config, load_config
from cryoctl.errors import ConfigError, ProfileError, RecordsError
from cryoctl.profile import LoadedProfile, load_profile
from cryoctl.profile.signing import (
    SignaturePolicy,
    fingerprint,
    generate_key,
    load_private_key,
    private_key_pem,
    public_key_text,
    sign_bytes,
    signature_path,
    signature_text,
)
from cryoctl.profile.store import (
    DEFAULT_PROFILE_DIR,
    PROFILE_DIR_ENV,
    Installed,
    catalogue,
    install_profile,
)
from cryoctl.records.audit import audit_into
from cryoctl.records.schema import DB_NAME, now_utc, utc_text

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


def _config(config_path: Path) -> Config | None:
    """The service config; None when no config was named and none is installed.

    ``--config`` (or $CRYOCTL_CONFIG) must exist; the default path is read when it
    exists, so on a device the policy applies without naming it.
    """
    source = click.get_current_context().get_parameter_source("config_path")
    if source is ParameterSource.DEFAULT and config_path == DEFAULT_CONFIG_PATH \
            and not config_path.exists():
        return None
    try:
        return load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(2) from None


def _policy(config_path: Path) -> SignaturePolicy | None:
    """The config's signature policy; None when there is no config (see :func:`_config`)."""
    config = _config(config_path)
    return None if config is None else config.profiles.policy()


def _audit_install(config: Config, loaded: LoadedProfile, path: Path | None) -> None:
    """The install into the records' audit trail; exit 1 naming the file when it fails."""
    signer = loaded.signer
    db = config.data.dir / DB_NAME
    if not db.exists():  # a device whose control process has not run yet
        click.echo(f"note: no records database at {db} yet: this install is not in the "
                   "audit trail", err=True)
        return
    try:
        audit_into(db, at_utc=utc_text(now_utc()),
                   action="profile_installed", detail={
                       "name": loaded.name, "version": loaded.version, "sha256": loaded.sha256,
                       "path": str(path), "via": "cli", "uid": os.getuid(),
                       "signer": None if signer is None else signer.key_name,
                       "signer_fingerprint": None if signer is None else signer.fingerprint})
    except RecordsError as exc:
        click.echo(f"cryoctl: {loaded.identity} is installed, but not in the audit trail: "
                   f"{exc}", err=True)
        raise SystemExit(1) from None


_POLICY_HELP = ("The service config, for its [profiles] signature policy (read when it "
                "exists at the default path).")


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
@config_option(_POLICY_HELP)
def list_(directory: Path, config_path: Path) -> None:
    """List the shipped and the installed profiles (with a policy, who signed each)."""
    policy = _policy(config_path)
    profiles, problems = catalogue(directory, policy)
    for problem in problems:
        click.echo(f"skipped: {problem}", err=True)
    signer_column = ("SIGNER",) if policy is not None else ()
    rows = [("NAME", "VERSION", "DEVICE", "KIND", "ZONES", "SHA256", *signer_column, "SOURCE")]
    for loaded in profiles:
        meta = loaded.profile.meta
        source = "shipped" if loaded.source.startswith("shipped:") else loaded.source
        signer = loaded.signer
        signed = (() if policy is None else
                  (f"{signer.key_name}:{signer.fingerprint}" if signer else "unsigned",))
        rows.append((meta.name, f"v{meta.version}", meta.device.value, meta.kind.value,
                     str(len(loaded.profile.zones)), loaded.sha256_prefix, *signed, source))
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
@config_option(_POLICY_HELP)
def install(file: str, directory: Path, config_path: Path) -> None:
    """Validate FILE and install it as NAME-vVERSION.toml (with FILE.sig when signed)."""
    config = _config(config_path)
    policy = None if config is None else config.profiles.policy()
    try:
        result = install_profile(file, directory, policy=policy)
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
    signer = result.loaded.signer
    # Without a policy nothing was checked, so nothing is said about a signature.
    signed = ("" if policy is None else f", signed by {signer.key_name} {signer.fingerprint}"
              if signer is not None else ", unsigned")
    if result.outcome is Installed.WRITTEN:
        click.echo(f"installed {result.loaded.identity} as {result.path}{signed}")
        if config is not None:
            _audit_install(config, result.loaded, result.path)
    else:
        click.echo(f"unchanged {result.loaded.identity}: already {result.note}{signed}")


@command.command("keygen")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the new private key (PEM, mode 0600; never overwritten).")
@click.option("--name", default="vendor", show_default=True,
              help="The key's name in the config's [profiles] trusted_keys.")
def keygen(out: Path, name: str) -> None:
    """Make an Ed25519 signing key; print the public key for the device's config."""
    key = generate_key()
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        click.echo(f"{out}: cannot create the key file ({exc.strerror or exc})", err=True)
        raise SystemExit(1) from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))
    public = key.public_key()
    click.echo(f"private key {out} (keep it off the device)")
    click.echo(f"fingerprint {fingerprint(public)}")
    click.echo("for the device's config:")
    click.echo("[profiles]")
    click.echo("require_signatures = true")
    click.echo(f'trusted_keys = {{ {name} = "{public_key_text(public)}" }}')


@command.command("sign")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--key", "key_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="The private key from `cryoctl profile keygen`.")
def sign(file: str, key_path: Path) -> None:
    """Validate FILE, then sign its exact bytes into FILE.sig."""
    try:
        key = load_private_key(key_path)
        loaded = load_profile(file)
        data = Path(file).read_bytes()
    except ProfileError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    target = signature_path(file)
    try:
        target.write_text(signature_text(sign_bytes(key, data)), encoding="ascii")
    except OSError as exc:
        click.echo(f"{target}: cannot write the signature ({exc.strerror or exc})", err=True)
        raise SystemExit(1) from None
    click.echo(f"signed {loaded.identity} with {fingerprint(key.public_key())} into {target}")


@command.command("verify")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--public-key", "public_keys", multiple=True, metavar="NAME=ed25519:BASE64",
              help="A trusted key (repeatable); without any, the config's trusted_keys.")
@config_option(_POLICY_HELP)
def verify(file: str, public_keys: tuple[str, ...], config_path: Path) -> None:
    """Check FILE.sig against FILE's bytes under the trusted keys; exit 1 if it fails."""
    if public_keys:
        keys: dict[str, str] = {}
        for item in public_keys:
            name, sep, text = item.partition("=")
            if not sep:
                name, text = "key", item
            keys[name] = text
        try:
            policy = SignaturePolicy.from_texts(required=True, keys=keys)
        except ValueError as exc:
            click.echo(f"--public-key: {exc}", err=True)
            raise SystemExit(2) from None
    else:
        found = _policy(config_path)
        if found is None or not found.keys:
            click.echo(f"{file}: no trusted keys (give --public-key or a config with "
                       "[profiles] trusted_keys)", err=True)
            raise SystemExit(2)
        policy = SignaturePolicy(required=True, keys=found.keys)
    try:
        loaded = load_profile(file, policy=policy)
    except ProfileError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    signer = loaded.signer
    assert signer is not None  # a required policy never answers unsigned
    click.echo(f"ok {loaded.identity} signed by {signer.key_name} {signer.fingerprint}")
