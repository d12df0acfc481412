"""The panel's :class:`~cryoctl.panel.link.ControlLink` over the real control socket.

One connection for requests, opened on first use and again after it drops; each
subscription gets a connection of its own (:meth:`ControlClient.subscribe` is one
per client). Unreachable or silent control processes surface as the client's
ControlUnavailable / ControlTimeout, which are OSError, as the link's contract asks.

Status requests are shared: while one is on its way, every other ``status()``
awaits the same answer (as fresh as its own would be), so a flood of HTTP polls
becomes at most one request at a time on the control socket.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from cryoctl.client import ControlClient
from cryoctl.protocol import CommandName, ControlStats

__all__ = ["SocketLink"]


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a shared request's failure as seen, though every caller may have gone."""
    if not task.cancelled():
        task.exception()


class SocketLink:
    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 5.0) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._client: ControlClient | None = None
        self._status: asyncio.Task[dict[str, Any]] | None = None
        self._lock = asyncio.Lock()
        #: The last try to reach the control process failed (requests or the subscription).
        self._down = False

    @property
    def connected(self) -> bool:
        return not self._down

    async def _connected(self) -> ControlClient:
        async with self._lock:
            client = self._client
            if client is None or client.closed_reason is not None:
                if client is not None:
                    await client.aclose()
                    self._client = None
                client = ControlClient(self.path, timeout_s=self.timeout_s)
                try:
                    await client.connect()
                except OSError:
                    self._down = True
                    raise
                self._client = client
                self._down = False
            return client

    async def status(self) -> dict[str, Any]:
        task = self._status
        if task is None or task.done():
            task = self._status = asyncio.get_running_loop().create_task(self._ask_status())
            task.add_done_callback(_retrieve)
        # shielded: one caller that gives up does not cancel the answer the others await
        return await asyncio.shield(task)

    async def _ask_status(self) -> dict[str, Any]:
        return await (await self._connected()).status()

    async def stats(self) -> ControlStats:
        return await (await self._connected()).stats()

    async def command(self, name: CommandName, *, up_to_seq: int | None = None,
                      role: str | None = None, token_id: str | None = None
                      ) -> tuple[bool, str]:
        reply = await (await self._connected()).command(name, up_to_seq=up_to_seq, role=role,
                                                         token_id=token_id)
        return reply.ok, reply.reason

    async def load_profile(self, name: str, sha256: str | None = None) -> tuple[bool, str]:
        reply = await (await self._connected()).load_profile(name, sha256=sha256)
        return reply.ok, reply.reason

    async def estop(self, source: str) -> bool:
        return await (await self._connected()).estop(source)

    async def start_session(self, **fields: Any) -> dict[str, Any]:
        reply = await (await self._connected()).start_session(**fields)
        return reply.model_dump(include={"ok", "reason", "overridable", "session_id"})

    async def records(self, kind: str, **fields: Any) -> dict[str, Any]:
        reply = await (await self._connected()).records(kind, **fields)
        return reply.model_dump(include={"ok", "reason", "data"})

    async def audit(self, action: str, *, role: str | None, token_id: str | None,
                    detail: dict[str, Any]) -> bool:
        reply = await (await self._connected()).audit(action, role=role, token_id=token_id,
                                                      detail=detail)
        return reply.ok

    async def subscribe(self) -> AsyncIterator[dict[str, Any]]:
        client = ControlClient(self.path, timeout_s=self.timeout_s)
        try:
            await client.connect()
        except OSError:
            self._down = True
            raise
        self._down = False
        try:
            async for push in client.subscribe():
                yield push.model_dump(mode="json")
        except OSError:
            self._down = True
            raise
        finally:
            await client.aclose()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
