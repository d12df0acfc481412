"""``WS /api/v1/events``: the control process's pushes, as JSON text frames.

At connect the browser gets the current snapshot (``{"v": 1, "type": "snapshot",
"snapshot": {...}}``), then every snapshot and event as the control process
pushes them, and ``{"v": 1, "type": "link", "link": "connected" | "disconnected"}``
when the link to the control process changes. Messages from the browser are read
and ignored. A browser that cannot keep up is dropped (closed with 1013), never
waited for: its queue in the :class:`~cryoctl.panel.hub.Hub` is bounded.

Open without a sign-in, like ``/status``: alarms must show on every screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket

from cryoctl.panel.hub import LINK_DOWN, Subscriber, snapshot_frame
from cryoctl.panel.state import API_PREFIX, ControlUnreachable, PanelState, ask

__all__ = ["CLOSE_TOO_SLOW", "router"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix=API_PREFIX, tags=["events"])

#: WebSocket close code for a dropped slow client ("try again later").
CLOSE_TOO_SLOW = 1013
#: Longest wait for a close frame to go out to a client that stopped reading.
CLOSE_TIMEOUT_S = 1.0


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


async def _greet(ws: WebSocket, state: PanelState, sub: Subscriber) -> None:
    """The current snapshot first, then the link state when it is down."""
    if sub.preloaded:  # the hub's latest snapshot heads the queue
        await ws.send_text(_text(sub.queue.get_nowait()))
        if not state.link.connected:
            await ws.send_text(_text(LINK_DOWN))
        return
    if state.link.connected:
        try:
            snapshot = await ask(state, "status", "status", state.link.status)
        except ControlUnreachable:
            pass
        else:
            state.hub.note_snapshot(snapshot)
            await ws.send_text(_text(snapshot_frame(snapshot)))
            return
    await ws.send_text(_text(LINK_DOWN))


async def _pump(ws: WebSocket, state: PanelState, sub: Subscriber) -> None:
    await _greet(ws, state, sub)
    while True:
        message = await sub.queue.get()
        await ws.send_text(_text(message))


async def _listen(ws: WebSocket) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


@router.websocket("/events", name="events")
async def events(ws: WebSocket) -> None:
    state: PanelState = ws.app.state.panel
    await ws.accept()
    sub = state.hub.join()
    tasks = {asyncio.create_task(_pump(ws, state, sub)), asyncio.create_task(_listen(ws))}
    dropped = asyncio.create_task(sub.dropped.wait())
    try:
        done, _ = await asyncio.wait({*tasks, dropped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        state.hub.leave(sub)
        for task in (*tasks, dropped):
            task.cancel()
        await asyncio.gather(*tasks, dropped, return_exceptions=True)
    if dropped in done:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await ws.close(CLOSE_TOO_SLOW, "too slow: events were not read in time")
        return
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, OSError):
            log.warning("events_client_failed", error=type(error).__name__)
