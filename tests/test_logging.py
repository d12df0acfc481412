"""Log lines as another program sees them: captured from a child process on a pipe or a pty."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cryoctl.logging import LogFormat, configure_logging

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")

PROGRAM = textwrap.dedent("""
    import logging, sys
    import structlog
    from cryoctl.logging import configure_logging, configure

    how = sys.argv[1]
    if how == "compat":
        configure(level="info", json=True)
    else:
        print("chosen", configure_logging(how, level="info"), file=sys.stderr)
    log = structlog.get_logger("cryoctl.test")
    log.debug("not shown at info")
    log.info("unit ready", kind="n2", period_ms=20)
    logging.getLogger("uvicorn.error").warning("port %d in use", 8080)
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("cycle failed")
""")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)
    return {**env, **extra}


def _on_a_pipe(how: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-c", PROGRAM, how], capture_output=True, text=True,
                          env=_env(), timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _on_a_terminal(how: str, **env: str) -> str:
    main, child = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-c", PROGRAM, how], stdin=child, stdout=child,
                                stderr=child, env=_env(TERM="xterm", **env),
                                start_new_session=True)
        os.close(child)
        child = -1
        seen = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # EIO: the child closed its terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=10) == 0, seen
    finally:
        if child >= 0:
            os.close(child)
        os.close(main)
    return seen.decode()


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("how", ["json", "auto"])
def test_json_lines_on_a_pipe(how: str) -> None:
    done = _on_a_pipe(how)
    assert done.stderr == "chosen json\n"
    lines = _json_lines(done.stdout)
    assert [line["event"] for line in lines] == ["unit ready", "port 8080 in use",
                                                  "cycle failed"]
    ready, stdlib, failed = lines
    assert ready["level"] == "info" and ready["logger"] == "cryoctl.test"
    assert ready["kind"] == "n2" and ready["period_ms"] == 20
    assert stdlib["level"] == "warning" and stdlib["logger"] == "uvicorn.error"
    assert failed["level"] == "error"
    assert "ZeroDivisionError: division by zero" in str(failed["exception"])
    for line in lines:
        assert ISO_UTC.fullmatch(str(line["timestamp"])), line
        assert {"timestamp", "level", "logger", "event"} <= line.keys()


def test_the_stderr_helper_logs_json_to_stderr() -> None:
    done = _on_a_pipe("compat")
    assert done.stdout == ""
    assert _json_lines(done.stderr)[0]["event"] == "unit ready"


def test_console_on_a_pipe_is_readable_and_plain() -> None:
    done = _on_a_pipe("console")
    assert done.stderr == "chosen console\n"
    assert not ANSI.search(done.stdout)
    first = done.stdout.splitlines()[0]
    assert re.match(ISO_UTC.pattern + r" \[info\s*\] unit ready\s+\[cryoctl\.test\] "
                    r"kind=n2 period_ms=20$", first), first
    assert "[warning  ] port 8080 in use" in done.stdout
    assert "ZeroDivisionError: division by zero" in done.stdout
    assert "not shown at info" not in done.stdout


def test_auto_is_a_coloured_console_in_a_terminal() -> None:
    shown = _on_a_terminal("auto")
    assert "chosen console" in shown
    assert ANSI.search(shown)
    plain = ANSI.sub("", shown)
    assert "unit ready" in plain and "kind=n2" in plain and "[cryoctl.test]" in plain
    assert not any(line.startswith("{") for line in plain.splitlines())


def test_no_color_turns_the_colours_off_in_a_terminal() -> None:
    shown = _on_a_terminal("auto", NO_COLOR="1")
    assert "unit ready" in shown
    assert not ANSI.search(shown)


def test_json_is_json_in_a_terminal_too() -> None:
    shown = _on_a_terminal("json")
    lines = [line for line in shown.splitlines() if line.startswith("{")]
    assert json.loads(lines[0])["event"] == "unit ready"


def test_a_bad_format_or_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log format 'xml' is not one of auto, json, console"):
        configure_logging("xml")
    with pytest.raises(ValueError, match="log level 'loud' is not one of"):
        configure_logging(LogFormat.JSON, level="loud")
