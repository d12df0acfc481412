"""Line numbers for key paths, where the file's layout makes them certain."""

from __future__ import annotations

from cryoctl.tomllines import line_of

TEXT = '''zones = []
[profile]
name = "x"  # a comment
description = """
name = "not a key"
[device]
"""
"references" = [
    "a",
]

[ device ]
nozzle = "M"

[[zones]]
name = "one"

[[zones]]
name = "two"
max_dwell_s = 3
'''


def test_keys_in_tables_and_arrays_of_tables() -> None:
    assert line_of(TEXT, "profile.name") == 3
    assert line_of(TEXT, "profile.references[0]") == 8
    assert line_of(TEXT, "device.nozzle") == 13
    assert line_of(TEXT, "zones[0].name") == 16
    assert line_of(TEXT, "zones[1].name") == 19
    assert line_of(TEXT, "zones[1].max_dwell_s") == 20


def test_text_inside_a_multi_line_string_is_not_a_key() -> None:
    assert line_of(TEXT, "device") == 12
    assert line_of(TEXT, "profile.description") == 4


def test_a_missing_key_points_at_its_table_and_an_unknown_table_at_nothing() -> None:
    assert line_of(TEXT, "zones[0].rest_s") == 15
    assert line_of(TEXT, "session.max_session_s") is None
    assert line_of(TEXT, "zones[5].name") is None
    assert line_of(TEXT, "zones") == 1
    assert line_of(TEXT, "") is None


DOTTED = '''[unit]
kind = "n2"

[unit.extra]
kind = "not the unit's"
depth = 1

[ "api" . "tls" ]
cert = "x"
'''


def test_a_dotted_header_is_a_table_of_its_own() -> None:
    """Keys under ``[unit.extra]`` are not the keys of ``[unit]``."""
    assert line_of(DOTTED, "unit.kind") == 2
    assert line_of(DOTTED, "unit.extra") == 4
    assert line_of(DOTTED, "api.tls") == 8
    assert line_of(DOTTED, "unit.depth") == 1
