"""`SharedStats`: router stats that workers share through `litegate.state`."""

from __future__ import annotations

import asyncio

from litegate import Gateway
from litegate.plugins.router.health import Checks
from litegate.plugins.router.shared_stats import SharedStats
from litegate.state import MemoryState

IDS = ["m#0", "m#1"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stats(clock=None) -> SharedStats:
    return SharedStats(failures=2, window=60, cooldown=30, refresh=0.01, clock=clock or FakeClock())


async def settle(*workers: SharedStats) -> None:
    for worker in workers:
        await asyncio.gather(*worker._tasks)
    await asyncio.sleep(0.05)  # a couple of refreshes


async def test_a_cooldown_one_worker_starts_is_seen_by_the_other():
    state = MemoryState("t:")
    clock = FakeClock()
    one, two = stats(clock), stats(clock)
    await one.connect(state, IDS)
    await two.connect(state, IDS)
    try:
        one.record("m#0", 0.1, ok=False)
        two.record("m#0", 0.1, ok=False)  # the second failure, counted across workers
        await settle(one, two)
        assert one.cooling("m#0") and two.cooling("m#0")
        assert not one.cooling("m#1")
        clock.now += 30
        await state.delete("router:cool:m#0")  # the cool-down's TTL ran out
        await settle(one, two)
        # Half-open on both: each lets a probe through.
        assert one.circuit("m#0") == two.circuit("m#0") == "half-open"
        assert not one.cooling("m#0") and not two.cooling("m#0")
        assert two.begin("m#0")  # the probe
        assert two.cooling("m#0")  # its only probe slot is taken
        two.record("m#0", None, ok=False, probe=True)  # the probe failed: open again
        two.end("m#0")
        await settle(one, two)
        assert one.circuit("m#0") == two.circuit("m#0") == "open"
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


async def test_the_router_shares_unless_told_not_to_or_the_store_is_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    models = '[[models]]\nname = "m"\nprovider = "mock"\n'
    off = f'[[pipeline]]\nplugin = "router"\nshared = false\n{models}'
    async with Gateway.from_toml(off, {}) as gw:
        await gw.chat(model="m", messages=[{"role": "user", "content": "hi"}])
        assert gw._state is None
    memory = f'[state]\nkv = "memory:"\n[[pipeline]]\nplugin = "router"\n{models}'
    async with Gateway.from_toml(memory, {}) as gw:
        assert gw._state is None
    assert list(tmp_path.iterdir()) == []
    async with Gateway.from_toml(f'[[pipeline]]\nplugin = "router"\n{models}', {}) as gw:
        reply = await gw.chat(model="m", messages=[{"role": "user", "content": "hi"}])
        assert reply["choices"]
        assert gw._state is not None
    assert (tmp_path / ".litegate" / "kv").is_dir()  # the default store: disk, shared


async def test_the_worker_that_saw_the_failures_cools_down_at_once():
    one = stats()
    await one.connect(MemoryState("t:"), IDS)
    try:
        one.record("m#0", None, ok=False)
        one.record("m#0", None, ok=False)
        assert one.cooling("m#0")  # before any write reached the store
    finally:
        await one.aclose()


async def test_closing_withdraws_this_workers_counts():
    state = MemoryState("t:")
    one, two = stats(), stats()
    await one.connect(state, IDS)
    await two.connect(state, IDS)
    try:
        one.begin("m#0")
        one.begin("m#1")
        one.end("m#1")
        await settle(one, two)
        assert (two.in_flight("m#0"), two.in_flight("m#1"), two.requests("m#1")) == (1, 0, 1)
        await one.aclose()
        await settle(two)
        assert two.in_flight("m#0") == two.requests("m#1") == 0
    finally:
        await two.aclose()


async def test_a_worker_that_died_mid_call_stops_counting_when_its_lease_runs_out():
    state = MemoryState("t:")
    one, two = stats(), stats()
    one.lease = 0.3
    await one.connect(state, IDS)
    await two.connect(state, IDS)
    try:
        one.begin("m#0")
        await settle(one, two)
        assert two.in_flight("m#0") == 1
        assert one._refresher is not None
        one._refresher.cancel()  # the worker is killed: no more refreshes, no goodbye
        await asyncio.sleep(0.5)
        await settle(two)
        assert two.in_flight("m#0") == 0
    finally:
        one._state = None
        await two.aclose()


async def test_an_unreadable_value_in_the_store_does_not_stop_the_refreshes(caplog):
    state = MemoryState("t:")
    one, two = stats(), stats()
    await one.connect(state, IDS)
    await two.connect(state, IDS)
    try:
        await state.set("router:workers", b"not json")
        await settle(one, two)
        assert "unreadable" in caplog.text
        await state.delete("router:workers")
        one._registered_until = 0  # registers again on its next refresh
        one.begin("m#0")
        await settle(one, two)
        await settle(one, two)
        assert two.in_flight("m#0") == 1
    finally:
        await one.aclose()
        await two.aclose()


async def test_one_worker_runs_each_round_of_health_checks_and_every_worker_reports_it():
    state = MemoryState("t:")
    one, two = stats(), stats()
    await one.connect(state, IDS)
    await two.connect(state, IDS)
    gw = Gateway.from_toml('[state]\nkv = "memory:"\n[[models]]\nname = "m"\nprovider = "mock"\n')
    checks_one = Checks(one, 10.0, 1.0, [500], store=one.connected_state)
    checks_two = Checks(two, 10.0, 1.0, [500], store=two.connected_state)
    try:
        assert await checks_one._my_turn(10.0)
        assert not await checks_two._my_turn(10.0)  # this round is taken
        (deployment,) = gw.deployments["m"]
        async with gw:
            assert (await checks_one.check(gw, deployment)).ok
        seen = await checks_two.last([deployment])
        assert seen["m#0"]["ok"] is True and seen["m#0"]["error"] is None
    finally:
        await one.aclose()
        await two.aclose()
