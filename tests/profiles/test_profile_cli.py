"""``cryoctl profile``: validate, list, show, install, through click and a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cryoctl.cli.profile import command
from cryoctl.errors import ProfileError
from cryoctl.profile import Profile, load_profile, shipped_profiles
from cryoctl.profile import store as store_module

REPO = Path(__file__).parents[2]
SHIPPED_DIR = REPO / "profiles"
CORPUS = Path(__file__).parent / "corpus"
LENTIGO = SHIPPED_DIR / "n2-lentigo.toml"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(command, list(args), env=env, catch_exceptions=False)


def clinic_profile(tmp_path: Path, *, name: str = "clinic-lentigo", tweak: str = "") -> Path:
    """A valid profile of our own, derived from a shipped one."""
    text = LENTIGO.read_text().replace('name = "n2-lentigo"', f'name = "{name}"')
    path = tmp_path / f"{name}{'-changed' if tweak else ''}.toml"
    path.write_text(text.replace("Solar lentigo", f"Solar lentigo{tweak}"))
    return path


# --- validate --------------------------------------------------------------------------

def test_validate_prints_one_ok_line_per_file() -> None:
    files = sorted(str(p) for p in SHIPPED_DIR.glob("*.toml"))
    result = run("validate", *files)
    assert result.exit_code == 0
    expected = [f"ok {load_profile(f).identity}" for f in files]
    assert result.stdout.splitlines() == expected
    for line in expected:
        assert len(line.rsplit("sha256:", 1)[1]) == 12


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    bad = CORPUS / "multiple-problems.toml"
    result = run("validate", str(LENTIGO), str(bad), str(tmp_path / "gone.toml"), str(tmp_path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"ok {load_profile(LENTIGO).identity}",
        *(line.replace("multiple-problems.toml", str(bad), 1) for line in
          (CORPUS / "multiple-problems.expected").read_text().splitlines()),
        f"{tmp_path / 'gone.toml'}: no such file",
        f"{tmp_path}: is a directory, not a profile file",
    ]


def test_validate_needs_a_file() -> None:
    assert run("validate").exit_code == 2


# --- list ------------------------------------------------------------------------------

def _rows(result: Result) -> list[list[str]]:
    return [line.split() for line in result.stdout.splitlines()[1:]]


def test_list_shows_shipped_profiles_when_the_folder_is_missing(tmp_path: Path) -> None:
    result = run("list", "--dir", str(tmp_path / "absent"))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == [
        "NAME", "VERSION", "DEVICE", "KIND", "ZONES", "SHA256", "SOURCE"]
    rows = _rows(result)
    assert [r[0] for r in rows] == [p.name for p in shipped_profiles()]
    face = next(r for r in rows if r[0] == "n2-face-cryomassage")
    shipped = next(p for p in shipped_profiles() if p.name == "n2-face-cryomassage")
    assert face == ["n2-face-cryomassage", "v1", "n2", "cryomassage", "5",
                    shipped.sha256_prefix, "shipped"]


def test_list_reads_the_folder_from_the_environment_and_skips_broken_files(
    tmp_path: Path,
) -> None:
    mine = clinic_profile(tmp_path)
    folder = tmp_path / "installed"
    assert run("install", str(mine), "--dir", str(folder)).exit_code == 0
    shutil.copy(CORPUS / "dwell-over-ceiling.toml", folder / "broken.toml")
    result = run("list", env={"CRYOCTL_PROFILE_DIR": str(folder)})
    assert result.exit_code == 0
    installed = [r for r in _rows(result) if r[-1] != "shipped"]
    assert installed == [["clinic-lentigo", "v1", "n2", "lesion", "1",
                          load_profile(mine).sha256_prefix,
                          str(folder / "clinic-lentigo-v1.toml")]]
    assert result.stderr.splitlines() == [
        f"skipped: {folder / 'broken.toml'}:40: zones[2].max_dwell_s: 7.0 exceeds the "
        "ceiling of 5 s for n2 cryomassage"
    ]


# --- show ------------------------------------------------------------------------------

def test_show_by_name_in_words(tmp_path: Path) -> None:
    result = run("show", "n2-common-wart", "--dir", str(tmp_path))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    wart = next(p for p in shipped_profiles() if p.name == "n2-common-wart")
    assert lines[0] == f"{wart.identity}  (shipped:n2-common-wart.toml)"
    assert "  #  name  max_dwell_s  max_total_s  passes  rest_s  repeat" in lines
    assert "  0  wart           10           20       2      30      10" in lines
    assert any(line.startswith("  - Sterling JC") for line in lines)


@pytest.mark.parametrize("name", [p.name for p in shipped_profiles()])
def test_show_lines_up_the_zones_under_their_headings(tmp_path: Path, name: str) -> None:
    lines = run("show", name, "--dir", str(tmp_path)).stdout.splitlines()
    start = lines.index("zones:") + 1
    end = lines.index("references:")
    header, *zones = lines[start:end]
    assert zones, "no zone rows"
    headings = header.split()
    name_col = header.index("name")
    for row in zones:
        assert len(row.split()) == len(headings), row
        assert row[name_col - 1] == " " and row[name_col] != " ", (header, row)
        for heading in headings[2:]:  # numbers end under the end of their heading
            end_col = header.index(heading) + len(heading)
            assert row[end_col - 1] != " ", (header, row)
            assert end_col == len(row) or row[end_col] == " ", (header, row)


def test_show_json_round_trips_to_the_same_profile(tmp_path: Path) -> None:
    result = run("show", "air-face-tone", "--json", "--dir", str(tmp_path))
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    shipped = next(p for p in shipped_profiles() if p.name == "air-face-tone")
    assert document["sha256"] == shipped.sha256
    assert document["identity"] == shipped.identity
    assert document["profile"]["profile"]["name"] == "air-face-tone"
    assert Profile.model_validate(document["profile"]) == shipped.profile


def test_show_by_file_and_the_highest_installed_version(tmp_path: Path) -> None:
    folder = tmp_path / "installed"
    v1 = clinic_profile(tmp_path)
    v2 = tmp_path / "v2.toml"
    v2.write_text(v1.read_text().replace("version = 1", "version = 2"))
    for path in (v1, v2):
        assert run("install", str(path), "--dir", str(folder)).exit_code == 0
    by_name = run("show", "clinic-lentigo", "--dir", str(folder))
    assert by_name.stdout.splitlines()[0].startswith("clinic-lentigo v2 ")
    by_file = run("show", str(v1), "--dir", str(folder))
    assert by_file.stdout.splitlines()[0] == f"{load_profile(v1).identity}  ({v1})"


def test_show_an_unknown_name_exits_1(tmp_path: Path) -> None:
    result = run("show", "no-such-profile", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith("no-such-profile: no such profile (known: air-face-tone, ")


# --- install ---------------------------------------------------------------------------

def test_install_writes_name_and_version_atomically_and_once(tmp_path: Path) -> None:
    mine = clinic_profile(tmp_path)
    folder = tmp_path / "installed"
    first = run("install", str(mine), "--dir", str(folder))
    assert first.exit_code == 0
    target = folder / "clinic-lentigo-v1.toml"
    assert first.stdout == f"installed {load_profile(mine).identity} as {target}\n"
    assert target.read_bytes() == mine.read_bytes()
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(folder)) == ["clinic-lentigo-v1.toml"]
    mtime = target.stat().st_mtime_ns
    again = run("install", str(mine), "--dir", str(folder))
    assert again.exit_code == 0
    assert again.stdout.startswith(f"unchanged {load_profile(mine).identity}: already installed")
    assert target.stat().st_mtime_ns == mtime


def test_install_refuses_other_content_under_an_installed_name_and_version(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "installed"
    original = clinic_profile(tmp_path)
    assert run("install", str(original), "--dir", str(folder)).exit_code == 0
    changed = clinic_profile(tmp_path, tweak=" (changed)")
    result = run("install", str(changed), "--dir", str(folder))
    assert result.exit_code == 1
    assert "clinic-lentigo v1 is already installed with other content" in result.stderr
    assert (folder / "clinic-lentigo-v1.toml").read_bytes() == original.read_bytes()
    assert sorted(os.listdir(folder)) == ["clinic-lentigo-v1.toml"]


def test_install_refuses_to_shadow_a_shipped_profile(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow.toml"
    shadow.write_text(LENTIGO.read_text().replace("Solar lentigo", "My lentigo"))
    folder = tmp_path / "installed"
    result = run("install", str(shadow), "--dir", str(folder))
    assert result.exit_code == 1
    assert "n2-lentigo v1 is already shipped with other content" in result.stderr
    assert not folder.exists()


def test_install_of_a_shipped_file_is_a_no_op(tmp_path: Path) -> None:
    folder = tmp_path / "installed"
    result = run("install", str(LENTIGO), "--dir", str(folder))
    assert result.exit_code == 0
    assert result.stdout.startswith("unchanged n2-lentigo v1 sha256:")
    assert not folder.exists()


def test_install_refuses_an_invalid_file(tmp_path: Path) -> None:
    folder = tmp_path / "installed"
    result = run("install", str(CORPUS / "rest-below-floor.toml"), "--dir", str(folder))
    assert result.exit_code == 1
    assert "zones[0].rest_s: 15.0 is below the floor of 20 s for n2 cryomassage" in result.stderr
    assert not folder.exists()


@pytest.mark.parametrize("step", ["rename", "fsync"])
def test_a_failed_install_leaves_no_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    folder = tmp_path / "installed"
    folder.mkdir()
    mine = clinic_profile(tmp_path)
    calls: list[str] = []

    def broken(*args: object) -> None:
        calls.append(step)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_module.os, step, broken)
    result = run("install", str(mine), "--dir", str(folder))
    monkeypatch.undo()
    assert calls == [step]
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{mine}: cannot install into ")
    assert "Input/output error" in result.stderr
    assert os.listdir(folder) == []
    # and a retry then succeeds
    assert run("install", str(mine), "--dir", str(folder)).exit_code == 0


def test_install_into_a_folder_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("install", str(clinic_profile(tmp_path)), "--dir", str(blocker / "sub"))
    assert result.exit_code == 1
    assert "cannot install into" in result.stderr
    assert "--dir or $CRYOCTL_PROFILE_DIR" in result.stderr  # where else it may go
    assert "Traceback" not in result.output


# --- a real process ----------------------------------------------------------------------

@pytest.mark.parametrize("launcher", ["script", "module"])
def test_validate_in_a_real_process(launcher: str, tmp_path: Path) -> None:
    if launcher == "script":
        script = shutil.which("cryoctl") or str(Path(sys.executable).parent / "cryoctl")
        argv = [script]
    else:
        argv = [sys.executable, "-m", "cryoctl"]
    broken = tmp_path / "bad.toml"
    broken.write_bytes((CORPUS / "dwell-over-ceiling.toml").read_bytes())
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)))
    out = subprocess.run([*argv, "profile", "validate", str(LENTIGO), str(broken), str(binary)],
                         capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False)
    assert out.returncode == 1, out.stderr
    assert out.stderr == ""
    assert out.stdout.splitlines() == [
        f"ok {load_profile(LENTIGO).identity}",
        f"{broken}:40: zones[2].max_dwell_s: 7.0 exceeds the ceiling of 5 s for n2 cryomassage",
        f"{binary}: not UTF-8 text (byte 0x80 at offset 128)",
    ]


# --- two installs at once ----------------------------------------------------------------

def test_an_install_waits_for_the_folder_lock_and_gives_up_in_time(tmp_path: Path) -> None:
    import fcntl

    folder = tmp_path / "installed"
    folder.mkdir()
    mine = clinic_profile(tmp_path)
    holder = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(BlockingIOError):
            store_module.install_profile(mine, folder, lock_wait_s=0.1)
        assert os.listdir(folder) == []
    finally:
        os.close(holder)
    result = store_module.install_profile(mine, folder, lock_wait_s=0.1)
    assert result.outcome is store_module.Installed.WRITTEN


def test_racing_installs_of_conflicting_content_install_exactly_one(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    folder = tmp_path / "installed"
    folder.mkdir()
    variants = [clinic_profile(tmp_path / str(i), tweak=f" {i}") for i in range(4)
                if (tmp_path / str(i)).mkdir() is None]

    def attempt(path: Path) -> str:
        try:
            return store_module.install_profile(path, folder).outcome.value
        except ProfileError:
            return "refused"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(attempt, variants))
    assert outcomes == ["installed", "refused", "refused", "refused"]
    assert os.listdir(folder) == ["clinic-lentigo-v1.toml"]


def test_list_leaves_out_files_that_reuse_a_name_and_version_for_other_content(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "installed"
    folder.mkdir()
    # Copied in by hand, past `install`: a changed shipped profile and two clashing files.
    (folder / "n2-lentigo-v1.toml").write_text(
        LENTIGO.read_text().replace("Solar lentigo", "Changed lentigo"))
    first = clinic_profile(tmp_path)
    shutil.copy(first, folder / "a.toml")
    shutil.copy(clinic_profile(tmp_path, tweak=" (changed)"), folder / "b.toml")
    result = run("list", "--dir", str(folder))
    assert result.exit_code == 0
    installed = [r[-1] for r in _rows(result) if r[-1] != "shipped"]
    assert installed == [str(folder / "a.toml")]
    lentigo = next(p for p in shipped_profiles() if p.name == "n2-lentigo")
    assert result.stderr.splitlines() == [
        f"skipped: {folder / 'b.toml'}: clinic-lentigo v1 has other content than "
        f"{load_profile(first).identity} ({folder / 'a.toml'}); left out",
        f"skipped: {folder / 'n2-lentigo-v1.toml'}: n2-lentigo v1 has other content than "
        f"{lentigo.identity} (shipped:n2-lentigo.toml); left out",
    ]
