"""`SharedStats`: router stats that workers share through `litegate.state`."""

from __future__ import annotations

import asyncio

from litegate import Gateway
from litegate.plugins.router.shared_stats import SharedStats
from litegate.state import MemoryState

IDS = ["m#0", "m#1"]


def stats() -> SharedStats:
    return SharedStats(failures=2, window=60, cooldown=30, refresh=0.01)


async def settle(*workers: SharedStats) -> None:
    for worker in workers:
        await asyncio.gather(*worker._tasks)
    await asyncio.sleep(0.05)  # a couple of refreshes


async def test_a_cooldown_one_worker_starts_is_seen_by_the_other():
    state = MemoryState("t:")
    one, two = stats(), stats()
    await one.connect(state, IDS)
    await two.connect(state, IDS)
    try:
        one.record("m#0", 0.1, ok=False)
        two.record("m#0", 0.1, ok=False)  # the second failure, counted across workers
        await settle(one, two)
        assert one.cooling("m#0") and two.cooling("m#0")
        assert not one.cooling("m#1")
        await state.delete("router:cool:m#0")  # the cool-down's TTL ran out
        await settle(one, two)
        assert not one.cooling("m#0") and not two.cooling("m#0")
    finally:
        await one.aclose()
        await two.aclose()


async def test_in_flight_and_latency_are_shared():
    state = MemoryState("t:")
    one, two = stats(), stats()
    await one.connect(state, IDS)
    await two.connect(state, IDS)
    try:
        one.begin("m#1")
        one.record("m#1", 1.0, ok=True)
        await settle(one, two)  # written in batches, once per refresh
        two.record("m#1", 2.0, ok=True)
        await settle(one, two)
        assert two.in_flight("m#1") == 1
        assert two.latency("m#1") == one.latency("m#1") == 1.3  # 1.0 blended with 2.0
        one.end("m#1")
        await settle(one, two)
        assert two.in_flight("m#1") == 0
    finally:
        await one.aclose()
        await two.aclose()


async def test_the_router_opens_the_gateways_state_only_when_shared(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    models = '[[models]]\nname = "m"\nprovider = "mock"\n'
    async with Gateway.from_toml(f'[[pipeline]]\nplugin = "router"\n{models}', {}) as gw:
        assert gw._state is None
    shared = f'[state]\nkv = "memory:"\n[[pipeline]]\nplugin = "router"\nshared = true\n{models}'
    async with Gateway.from_toml(shared, {}) as gw:
        reply = await gw.chat(model="m", messages=[{"role": "user", "content": "hi"}])
        assert reply["choices"]
        assert gw._state is not None
    assert list(tmp_path.iterdir()) == []


async def test_the_worker_that_saw_the_failures_cools_down_at_once():
    one = stats()
    await one.connect(MemoryState("t:"), IDS)
    try:
        one.record("m#0", None, ok=False)
        one.record("m#0", None, ok=False)
        assert one.cooling("m#0")  # before any write reached the store
    finally:
        await one.aclose()


async def test_closing_writes_what_is_pending():
    state = MemoryState("t:")
    one = SharedStats(failures=2, window=60, cooldown=30, refresh=3600)
    await one.connect(state, IDS)
    one.begin("m#0")
    one.begin("m#1")
    one.end("m#1")
    one.record("m#1", 0.5, ok=True)
    await one.aclose()
    assert await state.get("router:busy:m#0") == b"1"
    assert await state.get("router:busy:m#1") is None
    assert await state.get("router:ms:m#1") == b"0.5"
