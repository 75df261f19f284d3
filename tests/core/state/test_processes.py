"""Separate processes (spawned, as Hypercorn workers are) sharing one store: a limit holds
however they race, and a message published in one reaches a subscriber in another."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from multiprocessing.pool import Pool

import pytest

from litegate.state import open_state

from . import workers
from .conftest import forget_prefix

SHARED = ["disk", pytest.param("redis", marks=pytest.mark.services)]
PROCESSES = workers.PROCESSES


@pytest.fixture(params=SHARED)
async def shared_url(request: pytest.FixtureRequest, tmp_path, prefix) -> AsyncIterator[str]:
    if request.param == "disk":
        yield f"disk:{tmp_path}/kv"
        return
    url: str = request.getfixturevalue("redis_url")
    yield url
    await forget_prefix(url, prefix)


async def run_in_processes(pool: Pool, function, *args) -> list:
    """`function(*args, PROCESSES)` in each process at once (the workers wait for each other
    before they start); their answers."""
    result = pool.starmap_async(function, [(*args, PROCESSES)] * PROCESSES, chunksize=1)
    return await asyncio.to_thread(result.get, 30)


@pytest.mark.parametrize("kind", ["window", "reserve", "slots"])
async def test_racing_processes_never_take_more_than_the_limit(
    spawn_pool: Pool, shared_url: str, prefix: str, kind: str
):
    taken = await run_in_processes(spawn_pool, workers.race, shared_url, prefix, kind, 40, 50)
    assert sum(taken) == 50, taken  # 120 attempts; exactly the limit got through
    assert sum(share > 0 for share in taken) >= 2, f"not a race: {taken}"
    if kind == "reserve":
        state = await open_state(shared_url, prefix=prefix)
        try:
            assert await state.get("budget") in (b"50", b"50.0")
        finally:
            await state.aclose()


async def test_racing_processes_count_every_increment(
    spawn_pool: Pool, shared_url: str, prefix: str
):
    await run_in_processes(spawn_pool, workers.race, shared_url, prefix, "incr", 40, 0)
    state = await open_state(shared_url, prefix=prefix)
    try:
        assert await state.get("hits") == str(PROCESSES * 40).encode()
    finally:
        await state.aclose()


async def test_slots_exclude_across_processes(spawn_pool: Pool, shared_url: str, prefix: str):
    most = await run_in_processes(spawn_pool, workers.hold_slots, shared_url, prefix, 30, 2)
    assert max(most) <= 2


async def test_a_message_reaches_another_process_within_a_second(
    spawn_pool: Pool, shared_url: str, prefix: str
):
    state = await open_state(shared_url, prefix=prefix)
    try:
        async with state.subscribe("keys") as messages:
            sending = spawn_pool.apply_async(
                workers.publish, (shared_url, prefix, "keys", b"revoked:abc")
            )
            async with asyncio.timeout(10):
                message = await anext(messages)
            received_at = time.time()
            sent_at = await asyncio.to_thread(sending.get, 10)
        assert message == b"revoked:abc"
        assert received_at - sent_at < 1.0
    finally:
        await state.aclose()
