"""The shared tier when its store fails (a full disk, Redis down): a miss, never an error;
it turns itself off for a pause, says so once, and comes back by itself."""

from __future__ import annotations

import logging

from litegate.plugins.cache.tiers import Entry, SharedTier
from litegate.state import StateError, open_state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FullDisk:
    """A real in-memory store whose writes fail the way diskcache's do on a full disk."""

    def __init__(self, state) -> None:
        self.state = state
        self.full = True
        self.calls = 0

    async def get(self, key):
        self.calls += 1
        return await self.state.get(key)

    async def set(self, key, value, ttl=None):
        self.calls += 1
        if self.full:
            raise StateError("database or disk is full")
        await self.state.set(key, value, ttl=ttl)

    async def delete(self, key):
        await self.state.delete(key)


async def test_a_full_disk_turns_the_tier_off_once_then_it_recovers(caplog):
    state = await open_state("memory:")
    store, clock = FullDisk(state), Clock()
    tier = SharedTier(store, pause=30, clock=clock)  # type: ignore[arg-type]
    entry = Entry(
        "k", "json", b'{"id":"x"}', tenant="team:a", model="m", stored_at=1.0, expires_at=2e9
    )
    with caplog.at_level(logging.WARNING, logger="litegate.cache"):
        await tier.put(entry, ttl=60)  # fails: off
        calls = store.calls
        for _ in range(10):
            await tier.put(entry, ttl=60)
            assert await tier.get("k") is None
        assert store.calls == calls  # nothing tried while off
    assert sum("off for 30s" in r.message for r in caplog.records) == 1
    store.full = False
    clock.now += 31
    await tier.put(entry, ttl=60)
    assert await tier.get("k") is not None
    await state.aclose()
