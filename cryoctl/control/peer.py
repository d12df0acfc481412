"""Who is at the other end of the control socket, and whether they may use it.

``SO_PEERCRED`` gives the connecting process's pid, uid and gid as the kernel saw
them at ``connect``; :func:`peer_allowed` admits root, the service's own user and
members of the allowed groups.
"""

from __future__ import annotations

import grp
import pwd
import socket
import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

__all__ = ["PeerCredentials", "find_group", "peer_allowed", "peer_credentials"]

_UCRED: Final = struct.Struct("3i")


@dataclass(frozen=True, slots=True)
class PeerCredentials:
    """Who is at the other end of a Unix socket (from ``SO_PEERCRED``)."""

    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    """The connecting process's pid, uid and gid, as the kernel saw them at ``connect``."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCredentials(pid, uid, gid)


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def find_group(name: str) -> grp.struct_group | None:
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


def peer_allowed(
    peer: PeerCredentials,
    *,
    own_uid: int,
    allowed_groups: Collection[str],
    group: Callable[[str], grp.struct_group | None] = find_group,
    user_name: Callable[[int], str | None] = _user_name,
) -> bool:
    """Root, the service's own user, and members of ``allowed_groups``; nobody else.

    A member is a peer whose primary gid is the group's, or whose user name the group
    lists (``/etc/group``). Groups are looked up on every call, so a membership change
    holds from the next connection; a group that does not exist admits nobody.
    """
    if peer.uid in (0, own_uid):
        return True
    name: str | None = None
    looked_up = False
    for group_name in allowed_groups:
        found = group(group_name)
        if found is None:
            continue
        if peer.gid == found.gr_gid:
            return True
        if not looked_up:
            name, looked_up = user_name(peer.uid), True
        if name is not None and name in found.gr_mem:
            return True
    return False
