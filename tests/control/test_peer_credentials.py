"""Who may use the control socket: the rule with fake credentials, and a real other user.

The rule (:func:`peer_allowed`) is checked with fake credential tuples and a fake
group table. When the tests run as root, a child process running as ``nobody``
(``subprocess`` with ``user=``/``group=``, so the kernel reports its own uid and gid
through ``SO_PEERCRED``) connects for real: refused, then admitted once its group
is allowed. As another user that part is skipped (setuid needs root).
"""

from __future__ import annotations

import asyncio
import grp
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from socket_rig import serve
from structlog.testing import capture_logs

from cryoctl.control.peer import PeerCredentials, peer_allowed, peer_credentials

pytestmark = pytest.mark.timeout(30)

_GROUPS = {
    "cryoctl-tech": grp.struct_group(("cryoctl-tech", "x", 1500, ["alice"])),
    "panel": grp.struct_group(("panel", "x", 1600, [])),
}
_USERS = {1001: "alice", 1002: "bob", 1003: "carol"}


def _allowed(uid: int, gid: int, groups: tuple[str, ...] = ("cryoctl-tech", "panel")) -> bool:
    return peer_allowed(PeerCredentials(pid=42, uid=uid, gid=gid), own_uid=999,
                        allowed_groups=groups, group=_GROUPS.get, user_name=_USERS.get)


def test_root_and_the_service_user_are_allowed() -> None:
    assert _allowed(0, 0, groups=())
    assert _allowed(999, 999, groups=())


def test_members_of_an_allowed_group_by_primary_gid_or_by_listing() -> None:
    assert _allowed(1002, 1600)  # bob's primary group is panel
    assert _allowed(1001, 100)  # alice is listed in cryoctl-tech
    assert not _allowed(1003, 100)  # carol is in neither
    assert not _allowed(1001, 100, groups=("panel",))
    assert not _allowed(4242, 4242)  # a uid with no user name
    assert not _allowed(1001, 100, groups=("no-such-group",))


def test_the_kernel_reports_the_peer() -> None:
    import socket

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        cred = peer_credentials(a)
    assert (cred.pid, cred.uid, cred.gid) == (os.getpid(), os.getuid(), os.getgid())


_CHILD = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"v": 1, "id": 1, "type": "status"}\n')
except OSError:
    pass  # a refused peer may be closed on before it has sent anything
data = b""
while not data.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(json.dumps(json.loads(data.splitlines()[0])["type"] if data else "eof"))
print(data.splitlines()[0].decode() if data else "")
"""


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder another user can reach (pytest's own tmp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="cryoctl-peer-"))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _as_nobody(path: Path) -> tuple[str, str]:
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python is not None
    out = subprocess.run([python, "-I", "-S", "-c", _CHILD, os.fspath(path)],
                         user=65534, group=65534, extra_groups=[], capture_output=True,
                         text=True, timeout=10, check=False)
    assert out.returncode == 0, out.stderr
    kind, line = out.stdout.splitlines()[:2]
    return json.loads(kind), line


@pytest.mark.skipif(os.geteuid() != 0, reason="running a child as another user needs root")
async def test_another_user_is_refused_then_admitted_through_an_allowed_group(
        open_folder: Path) -> None:
    nogroup = grp.getgrgid(65534).gr_name
    async with serve(open_folder, mode=0o660) as s:
        os.chown(s.path, 0, 65534)  # the file lets nogroup connect; the credentials do not
        with capture_logs() as logs:
            kind, line = await asyncio.to_thread(_as_nobody, s.path)
        assert kind == "error" and "permission denied" in line
        assert s.server.refused == 1
        refusals = [e for e in logs if e["event"] == "control client refused"]
        assert refusals and refusals[0]["uid"] == 65534 and refusals[0]["gid"] == 65534
    async with serve(open_folder, mode=0o660, allowed_groups=(nogroup,)) as s:
        os.chown(s.path, 0, 65534)
        kind, _ = await asyncio.to_thread(_as_nobody, s.path)
        assert kind == "status"
        assert s.server.refused == 0
