"""What the panel server needs from the control process: the :class:`ControlLink` port.

The panel holds no device and makes no safety decision; every command is a request
on the control socket (:mod:`cryoctl.protocol`) and every state it shows is a
snapshot the control process sent. The routes see the socket only through this
port, so tests run them against a fake and the socket client plugs in unchanged.

The contract a link keeps:

- every coroutine raises :class:`OSError` (``ConnectionError``, ``FileNotFoundError``
  for a missing socket, ``TimeoutError``) when the control process cannot be reached
  or does not answer; the panel answers 503 and says so. The panel also bounds each
  call with its own timeout, so a link that hangs is treated the same way;
- ``status()`` answers a snapshot dict (:class:`cryoctl.core.snapshot.Snapshot` as
  :func:`cryoctl.protocol.jsonable` makes it), ``command()`` and ``load_profile()``
  the ``(ok, reason)`` of a :class:`~cryoctl.protocol.Reply`, ``estop()`` the
  ``acknowledged`` of an :class:`~cryoctl.protocol.EstopReply`, awaited only after
  the control process answered;
- ``subscribe()`` yields the pushes as message dicts, exactly as on the wire
  (``{"v": 1, "type": "snapshot", "snapshot": {...}}``, ``{"v": 1, "type":
  "event", "event": {...}}``) until the link drops, then ends or raises OSError.
  The panel subscribes once per process and again after a short pause;
- ``connected`` tells whether the link is up now (False answers status from the
  cache at once, without waiting for a timeout);
- ``start_session()``, ``records()`` and ``audit()`` carry the socket's requests of
  the same names (the records live in the control process; the panel never opens
  the database);
- optionally ``async aclose()``: awaited when the panel server shuts down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from cryoctl.protocol import CommandName

if TYPE_CHECKING:
    from cryoctl.config import Config

__all__ = ["CommandName", "ControlLink", "make_link"]


class ControlLink(Protocol):
    """The control process as the panel's routes see it (see the module docstring)."""

    @property
    def connected(self) -> bool: ...

    async def status(self) -> dict[str, Any]: ...

    async def command(self, name: CommandName, *, up_to_seq: int | None = None,
                      role: str | None = None, token_id: str | None = None
                      ) -> tuple[bool, str]: ...

    async def load_profile(self, name: str, sha256: str | None = None) -> tuple[bool, str]: ...

    async def estop(self, source: str) -> bool: ...

    def subscribe(self) -> AsyncIterator[dict[str, Any]]: ...

    async def start_session(self, **fields: Any) -> dict[str, Any]:
        """The socket's ``start_session`` (fields as its request); the reply as a dict
        (``ok``, ``reason``, ``overridable``, ``session_id``)."""
        ...

    async def records(self, kind: str, **fields: Any) -> dict[str, Any]:
        """A records query (``sessions``, ``session``, ``course``); ``ok``, ``reason``,
        ``data`` (None: not found)."""
        ...

    async def audit(self, action: str, *, role: str | None, token_id: str | None,
                    detail: dict[str, Any]) -> bool:
        """Add a row to the audit trail; whether the control process took it."""
        ...


def make_link(config: Config) -> ControlLink:
    """The socket client for ``config.control.socket_path``, as ``cryoctl panel`` uses it."""
    from cryoctl.panel.socket_link import SocketLink

    return SocketLink(config.control.socket_path)
