"""One subscription to the control process, fanned out to every browser.

The hub subscribes once per panel process (as Moonraker does for Klippy), keeps the
latest snapshot so a new browser gets it at once, and hands every push to each
subscriber's own bounded queue. It never waits for a subscriber: one whose queue
is full is dropped (its WebSocket is closed), so a slow browser cannot hold up
the others or the panel. When the subscription ends or fails, subscribers are
told ``{"type": "link", "link": "disconnected"}`` and the hub subscribes again
after ``retry_s``; the first push after that is preceded by ``"connected"``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from cryoctl.panel.link import ControlLink

__all__ = ["LINK_DOWN", "LINK_UP", "Hub", "Subscriber"]

log = structlog.get_logger(__name__)

Message = dict[str, Any]

LINK_DOWN: Message = {"v": 1, "type": "link", "link": "disconnected"}
LINK_UP: Message = {"v": 1, "type": "link", "link": "connected"}
#: The pushes browsers get; anything else on the subscription is counted, not forwarded.
FORWARDED = frozenset({"snapshot", "event"})


def snapshot_frame(snapshot: dict[str, Any]) -> Message:
    return {"v": 1, "type": "snapshot", "snapshot": snapshot}


class Subscriber:
    """One browser's queue of messages to send."""

    def __init__(self, capacity: int) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue(capacity)
        self.dropped = asyncio.Event()
        #: The queue starts with the hub's latest snapshot.
        self.preloaded = False

    def offer(self, message: Message) -> bool:
        """Queue ``message`` without waiting; False (and dropped) when the queue is full."""
        if self.dropped.is_set():
            return False
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped.set()
            return False
        return True


class Hub:
    def __init__(self, link: ControlLink, *, capacity: int = 64, retry_s: float = 0.25,
                 on_message: Callable[[str], None] | None = None,
                 on_drop: Callable[[], None] | None = None) -> None:
        self._link = link
        self._capacity = capacity
        self._retry_s = retry_s
        self._on_message = on_message
        self._on_drop = on_drop
        self._subscribers: set[Subscriber] = set()
        #: The newest snapshot seen (pushed, or answered to a status request).
        self.latest: dict[str, Any] | None = None
        #: Whether the subscription is delivering now.
        self.link_up = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def join(self) -> Subscriber:
        """A new subscriber, its queue holding the latest snapshot when there is one."""
        sub = Subscriber(self._capacity)
        if self.latest is not None:
            sub.preloaded = sub.offer(snapshot_frame(self.latest))
        self._subscribers.add(sub)
        return sub

    def leave(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def note_snapshot(self, snapshot: dict[str, Any]) -> None:
        """Keep ``snapshot`` as the latest unless a newer one is already kept."""
        seq, kept = snapshot.get("seq"), self.latest
        if (kept is None or not isinstance(seq, int) or not isinstance(kept.get("seq"), int)
                or seq >= kept["seq"]):
            self.latest = snapshot

    def publish(self, message: Message) -> None:
        for sub in list(self._subscribers):
            if not sub.offer(message):
                self._subscribers.discard(sub)
                log.warning("events_client_dropped", reason="queue full",
                            capacity=self._capacity)
                if self._on_drop is not None:
                    self._on_drop()

    def _received(self, message: Message) -> None:
        kind = message.get("type")
        kind = kind if isinstance(kind, str) else "unknown"
        if self._on_message is not None:
            self._on_message(kind)
        if not self.link_up:
            self.link_up = True
            log.info("control_link_up")
            self.publish(LINK_UP)
        if kind == "snapshot" and isinstance(message.get("snapshot"), dict):
            self.note_snapshot(message["snapshot"])
        if kind in FORWARDED:
            self.publish(message)

    def _lost(self, why: str) -> None:
        if self.link_up:
            self.link_up = False
            log.warning("control_link_down", reason=why)
            self.publish(LINK_DOWN)

    async def run(self) -> None:
        """Subscribe, forward, and subscribe again after a drop, until cancelled."""
        while True:
            try:
                async for message in self._link.subscribe():
                    self._received(message)
                self._lost("subscription ended")
            except OSError as exc:
                self._lost(f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # a broken message or link must not end the hub
                log.error("control_link_failed", error=f"{type(exc).__name__}: {exc}")
                self._lost("link failed")
            await asyncio.sleep(self._retry_s)
