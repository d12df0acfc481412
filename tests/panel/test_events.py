"""The event stream: the current snapshot first, then the pushes; a slow client is dropped."""

from __future__ import annotations

from pathlib import Path

import httpx
from conftest import make_config, running
from fastapi import FastAPI
from panel_fakes import FakeClock, FakeLink, WsClient, make_snapshot

from cryoctl.panel import create_app
from cryoctl.panel.hub import LINK_DOWN, LINK_UP, Hub


async def test_current_snapshot_first_then_pushes(app: FastAPI, link: FakeLink,
                                                  client: httpx.AsyncClient) -> None:
    link.snapshot = make_snapshot(7, phase="ready")
    ws = WsClient(app)
    assert (await ws.connect())["type"] == "websocket.accept"
    assert await ws.receive_json() == {"v": 1, "type": "snapshot", "snapshot": link.snapshot}
    pushed = {"v": 1, "type": "snapshot", "snapshot": make_snapshot(8, phase="armed")}
    event = {"v": 1, "type": "event", "event": {"seq": 3, "at_s": 12.5,
                                                "name": "state_changed", "data": {}}}
    link.push(pushed)
    assert await ws.receive_json() == LINK_UP
    assert await ws.receive_json() == pushed
    link.push(event)
    assert await ws.receive_json() == event
    await ws.disconnect()
    assert app.state.panel.hub.subscribers == 0


async def test_a_later_client_gets_the_latest_pushed_snapshot(
        app: FastAPI, link: FakeLink, client: httpx.AsyncClient) -> None:
    link.push({"v": 1, "type": "snapshot", "snapshot": make_snapshot(21, phase="spraying")})
    await link.until(handled=1)
    ws = WsClient(app)
    await ws.connect()
    first = await ws.receive_json()
    assert first["snapshot"]["seq"] == 21
    assert ("status",) not in link.calls  # served from the cache
    await ws.disconnect()


async def test_link_loss_is_told_and_the_hub_subscribes_again(
        app: FastAPI, link: FakeLink, client: httpx.AsyncClient) -> None:
    ws = WsClient(app)
    await ws.connect()
    await ws.receive_json()
    link.push({"v": 1, "type": "snapshot", "snapshot": make_snapshot(2)})
    assert await ws.receive_json() == LINK_UP
    await ws.receive_json()
    link.end_subscription()
    assert await ws.receive_json() == LINK_DOWN
    await link.until(subscriptions=2)
    link.push({"v": 1, "type": "snapshot", "snapshot": make_snapshot(3)})
    assert await ws.receive_json() == LINK_UP
    assert (await ws.receive_json())["snapshot"]["seq"] == 3
    await ws.disconnect()


async def test_control_down_at_connect(app: FastAPI, link: FakeLink,
                                       client: httpx.AsyncClient) -> None:
    link.connected = False
    ws = WsClient(app)
    await ws.connect()
    assert await ws.receive_json() == LINK_DOWN
    await ws.disconnect()
    status = (await client.get("/api/v1/status")).json()
    assert status == {"link": "disconnected", "snapshot": None}


async def test_slow_client_is_dropped_and_others_keep_up(tmp_path: Path, link: FakeLink,
                                                         clock: FakeClock) -> None:
    app = create_app(make_config(tmp_path), link, clock=clock, events_queue=4)
    async with running(app) as client:
        slow, quick = WsClient(app, slow=True), WsClient(app)
        for ws in (slow, quick):
            await ws.connect()
        await quick.receive_json()
        await slow.blocked.wait()  # stuck sending the first snapshot
        hub = app.state.panel.hub
        for seq in range(2, 12):
            link.push({"v": 1, "type": "snapshot", "snapshot": make_snapshot(seq)})
            assert (await quick.receive_json())["type"] in ("link", "snapshot")
        await slow.finished()  # the server ended the slow client's stream by itself
        closing = await slow.next_message()
        assert closing == {"type": "websocket.close", "code": 1013,
                           "reason": "too slow: events were not read in time"}
        assert hub.subscribers == 1
        assert (await quick.receive_json())["snapshot"]["seq"] == 11
        metrics = (await client.get("/metrics")).text
        assert "cryoctl_panel_events_clients_dropped_total 1.0" in metrics
        await quick.disconnect()


async def test_hub_never_waits_for_a_subscriber() -> None:
    hub = Hub(FakeLink(), capacity=2)
    stuck, reading = hub.join(), hub.join()
    for seq in range(5):
        hub.publish({"type": "snapshot", "snapshot": {"seq": seq}})
        reading.queue.get_nowait()
    assert stuck.dropped.is_set() and not reading.dropped.is_set()
    assert hub.subscribers == 1


async def test_status_reports_the_link(client: httpx.AsyncClient, link: FakeLink) -> None:
    link.snapshot = make_snapshot(5, phase="ready")
    assert (await client.get("/api/v1/status")).json() == {
        "link": "connected", "snapshot": link.snapshot}
    link.down = True
    answer = await client.get("/api/v1/status")
    assert answer.status_code == 200
    assert answer.json() == {"link": "disconnected", "snapshot": make_snapshot(5, phase="ready")}


def test_the_fake_snapshot_has_every_field_of_the_real_one() -> None:
    import dataclasses

    from cryoctl.core.snapshot import Snapshot

    assert set(make_snapshot()) == {f.name for f in dataclasses.fields(Snapshot)}
