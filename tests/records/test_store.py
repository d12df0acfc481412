"""The records database: migrations, the writer thread, and the audit chain's verification."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from procs import cryoctl

from cryoctl.errors import RecordsError
from cryoctl.records.audit import append_audit, verify
from cryoctl.records.queries import session_detail
from cryoctl.records.schema import MIGRATIONS, SCHEMA_VERSION, open_read_only, open_records
from cryoctl.records.writer import RecordsWriter


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def test_an_empty_file_gets_the_whole_schema_with_its_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "cryoctl.db"
    path.write_bytes(b"")
    conn = open_records(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert {"unit_model", "updated_utc"} <= _columns(conn, "sessions")
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
        conn.execute("INSERT INTO sprays (session_id, zone_index, site_index, start_s) "
                     "VALUES ('nobody', 0, 0, 0)")
    conn.close()


def test_the_first_schema_is_upgraded_in_place_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "cryoctl.db"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0])
    old.execute("INSERT INTO sessions (id, device_kind, profile_name, profile_version, "
                "profile_sha256, patient_ref, started_by_role, started_utc) VALUES "
                "('s1', 'n2', 'p', 1, 'ab', 'P-1', 'staff', '2026-01-01T10:00:00.000Z')")
    old.execute("INSERT INTO audit (at_utc, action, detail_json, prev_hash, hash) VALUES "
                "('2026-01-01T10:00:00.000Z', 'login', '{}', 'x', 'y')")
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    conn = open_records(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    row = conn.execute("SELECT patient_ref, unit_model, profile_signed FROM sessions").fetchone()
    assert tuple(row) == ("P-1", None, 0)
    assert conn.execute("SELECT last_id FROM audit_head").fetchone()[0] == 1
    assert "text" in _columns(conn, "alarm_log")
    conn.close()


def test_the_second_schema_is_upgraded_to_name_the_profile_signer(tmp_path: Path) -> None:
    path = tmp_path / "cryoctl.db"
    old = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        old.executescript(script)
    old.execute("INSERT INTO sessions (id, device_kind, profile_name, profile_version, "
                "profile_sha256, patient_ref, started_by_role, started_utc, outcome) VALUES "
                "('s2', 'n2', 'p', 1, 'ab', 'P-2', 'staff', '2026-01-01T10:00:00.000Z', "
                "'completed')")
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()
    conn = open_records(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert {"profile_signed", "profile_signer", "profile_signer_fingerprint"} <= _columns(
        conn, "sessions")
    assert _columns(conn, "write_check") == {"one", "writes"}
    conn.close()
    reader = open_read_only(path)
    found = session_detail(reader, "s2")
    reader.close()
    assert found is not None and found["outcome"] == "completed"
    # A session recorded before signers were kept reads as unsigned, not as an error.
    assert (found["profile"]["signed"], found["profile"]["signer"],
            found["profile"]["signer_fingerprint"]) == (False, None, None)
    shown = cryoctl("records", "show", "s2", "--db", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "signed    no (unsigned profile)" in shown.stdout


def test_a_database_from_the_future_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "cryoctl.db"
    future = sqlite3.connect(path)
    future.execute("CREATE TABLE later (x)")
    future.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    future.commit()
    future.close()
    before = path.read_bytes()
    with pytest.raises(RecordsError) as caught:
        open_records(path)
    text = str(caught.value)
    assert str(path) in text and f"schema version {SCHEMA_VERSION + 1}" in text
    assert "newer" in text
    assert path.read_bytes() == before
    with pytest.raises(RecordsError, match="schema version"):
        open_read_only(path)


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cryoctl.db"
    path.write_bytes(b"this is not sqlite at all, not even close" * 20)
    with pytest.raises(RecordsError, match=str(path)):
        open_records(path)


def test_the_writer_writes_in_order_and_reports_a_failed_write(tmp_path: Path) -> None:
    failures: list[str] = []
    writer = RecordsWriter(tmp_path / "cryoctl.db", on_failure=failures.append)
    writer.start()
    for n in range(3):
        writer.submit(lambda c, n=n: append_audit(c, at_utc=f"2026-01-01T10:00:0{n}.000Z",
                                                  action="login", detail={"n": n}))
    writer.submit(lambda c: c.execute("INSERT INTO no_such_table VALUES (1)") and None)
    writer.submit(lambda c: append_audit(c, at_utc="2026-01-01T10:00:09.000Z", action="logout"))
    assert writer.flush()
    writer.close()
    assert writer.failed and len(failures) == 1 and "no_such_table" in failures[0]
    conn = open_read_only(tmp_path / "cryoctl.db")
    actions = [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY id")]
    assert actions == ["login", "login", "login", "logout"]  # the write after the failure too
    assert verify(conn) == (4, [])


def test_the_writers_check_commits_a_write_and_says_when_the_database_refuses(
        tmp_path: Path) -> None:
    failures: list[str] = []
    writer = RecordsWriter(tmp_path / "cryoctl.db", on_failure=failures.append)
    writer.start()
    assert writer.check() and writer.check() and not writer.failed
    conn = sqlite3.connect(tmp_path / "cryoctl.db")
    assert conn.execute("SELECT writes FROM write_check").fetchone()[0] == 2
    conn.execute("CREATE TRIGGER refuse BEFORE UPDATE ON write_check "
                 "BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END")
    conn.commit()
    conn.close()
    assert not writer.check()
    assert writer.failed and "disk full (test)" in failures[0]
    # The refused write left no transaction open: the next write still goes in.
    writer.submit(lambda c: append_audit(c, at_utc="2026-01-01T10:00:00.000Z", action="login"))
    assert writer.flush()
    writer.close()
    reader = open_read_only(tmp_path / "cryoctl.db")
    assert [r[0] for r in reader.execute("SELECT action FROM audit")] == ["login"]
    reader.close()


def _trail(tmp_path: Path, rows: int = 5) -> Path:
    path = tmp_path / "cryoctl.db"
    conn = open_records(path)
    for n in range(rows):
        conn.execute("BEGIN")
        append_audit(conn, at_utc=f"2026-01-01T10:00:0{n}.000Z", action="login", role="staff",
                     token_id=f"t{n}", detail={"n": n})
        conn.execute("COMMIT")
    conn.close()
    return path


def _tamper(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()


def _verify(path: Path) -> tuple[int, str]:
    out = cryoctl("audit", "verify", "--db", str(path))
    return out.returncode, out.stdout + out.stderr


def test_audit_verify_says_whole_for_an_untouched_trail(tmp_path: Path) -> None:
    code, text = _verify(_trail(tmp_path))
    assert code == 0, text
    assert "5 rows" in text and "whole" in text


def test_audit_verify_names_an_edited_row(tmp_path: Path) -> None:
    path = _trail(tmp_path)
    _tamper(path, "UPDATE audit SET role = 'technician' WHERE id = 3")
    code, text = _verify(path)
    assert code == 1
    assert "audit row 3 was edited" in text
    assert "row 2" not in text and "row 4" not in text


def test_audit_verify_names_a_deleted_row(tmp_path: Path) -> None:
    path = _trail(tmp_path)
    _tamper(path, "DELETE FROM audit WHERE id = 2")
    code, text = _verify(path)
    assert code == 1
    assert "audit row 2 deleted" in text


def test_audit_verify_names_the_last_row_deleted(tmp_path: Path) -> None:
    path = _trail(tmp_path)
    _tamper(path, "DELETE FROM audit WHERE id = 5")
    code, text = _verify(path)
    assert code == 1 and "audit row 5 deleted from the end" in text


def test_audit_verify_names_an_inserted_row(tmp_path: Path) -> None:
    path = _trail(tmp_path)
    conn = sqlite3.connect(path)
    last_hash = conn.execute("SELECT hash FROM audit WHERE id = 5").fetchone()[0]
    conn.execute("INSERT INTO audit (at_utc, role, token_id, action, detail_json, prev_hash, "
                 "hash) VALUES ('2026-01-01T10:00:07.000Z', 'technician', 'tX', 'override', "
                 "'{}', ?, ?)", (last_hash, "f" * 64))
    conn.commit()
    conn.close()
    code, text = _verify(path)
    assert code == 1 and "audit row 6 was inserted" in text


def test_audit_verify_names_a_row_inserted_into_a_gap(tmp_path: Path) -> None:
    path = _trail(tmp_path)
    conn = sqlite3.connect(path)
    # Renumber 4 and 5 up by one, then put a row of one's own making at 4.
    conn.execute("UPDATE audit SET id = id + 10 WHERE id >= 4")
    conn.execute("UPDATE audit SET id = id - 9 WHERE id >= 14")
    prev = conn.execute("SELECT hash FROM audit WHERE id = 3").fetchone()[0]
    conn.execute("INSERT INTO audit (id, at_utc, role, token_id, action, detail_json, "
                 "prev_hash, hash) VALUES (4, '2026-01-01T10:00:03.500Z', 'staff', 't', "
                 "'login', '{}', ?, ?)", (prev, "e" * 64))
    conn.execute("UPDATE audit_head SET last_id = 6")
    conn.commit()
    conn.close()
    code, text = _verify(path)
    assert code == 1 and "audit row 4 was inserted" in text


def test_the_control_process_refuses_a_database_from_the_future_in_one_line(
        tmp_path: Path) -> None:
    from procs import write_config

    future = sqlite3.connect(tmp_path / "cryoctl.db")
    future.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    future.commit()
    future.close()
    config = write_config(tmp_path, "n2", "n2+socket://127.0.0.1:9")
    out = cryoctl("run", "--config", str(config))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert str(tmp_path / "cryoctl.db") in lines[0] and "newer" in lines[0]
    assert not (tmp_path / "control.sock").exists()
