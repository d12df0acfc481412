"""Turns on the N2 bus: one holder, urgent waiters first, cancelled waiters leave no trace."""

from __future__ import annotations

import asyncio

from drivers.n2.turns import Turns


async def test_urgent_waiter_overtakes_queued_ones_but_not_the_holder() -> None:
    turns = Turns()
    order: list[str] = []

    async def take(name: str, *, urgent: bool = False) -> None:
        await turns.acquire(urgent=urgent)
        order.append(name)
        await asyncio.sleep(0)
        turns.release()

    await turns.acquire()
    tasks = [asyncio.create_task(take(n)) for n in ("stat1", "stat2")]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(take("close", urgent=True)))
    await asyncio.sleep(0)
    assert turns.busy and turns.waiting == 3
    assert order == []
    turns.release()
    await asyncio.gather(*tasks)
    assert order == ["close", "stat1", "stat2"]
    assert not turns.busy and turns.waiting == 0


async def test_a_waiter_that_gives_up_does_not_block_the_bus() -> None:
    turns = Turns()
    await turns.acquire()
    waiter = asyncio.create_task(turns.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert turns.waiting == 0
    turns.release()
    assert not turns.busy
    await asyncio.wait_for(turns.acquire(), 0.1)
    assert turns.busy
