"""What only DiskState does: a change log that tells a slow subscriber what it missed, and
a locked store that fails fast instead of stalling the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import diskcache
import pytest

from litegate.state import DiskState, StateError, StateUnavailable, _disk


async def test_a_subscriber_that_fell_behind_the_backlog_is_told(tmp_path, monkeypatch):
    monkeypatch.setattr(_disk, "BACKLOG", 3)
    state = DiskState(tmp_path)
    try:
        async with state.subscribe("keys") as messages:
            for number in range(1, 6):
                await state.publish("keys", b"m%d" % number)
            got = [await anext(messages) for _ in range(4)]
        assert got == [None, b"m3", b"m4", b"m5"]
    finally:
        await state.aclose()


def _hold_the_cache(directory, locked, release) -> None:
    other = diskcache.Cache(str(directory))
    with other.transact():
        locked.set()
        release.wait(5)
    other.close()


def _hold_the_counters(directory, locked, release) -> None:
    other = sqlite3.connect(str(directory / "counters.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    locked.set()
    release.wait(5)
    other.execute("ROLLBACK")
    other.close()


@pytest.mark.parametrize(
    ("holder", "write"),
    [
        (_hold_the_cache, lambda state: state.set("k2", b"v")),
        (_hold_the_counters, lambda state: state.incr("c")),
        (_hold_the_counters, lambda state: state.set("k2", b"v")),
        (_hold_the_counters, lambda state: state.window_acquire("w", 10, 60)),
    ],
    ids=["cache-set", "counters-incr", "counters-set", "counters-window"],
)
async def test_a_locked_store_fails_fast_and_still_reads(tmp_path, holder, write):
    state = DiskState(tmp_path, timeout=0.05)
    await state.set("k", b"v")
    await state.incr("n")
    locked, release = threading.Event(), threading.Event()
    thread = threading.Thread(target=holder, args=(tmp_path, locked, release))
    thread.start()
    try:
        assert locked.wait(5)
        # WAL: readers never wait for the writer
        assert await state.get("k") == b"v"
        assert await state.get("n") == b"1"
        started = time.monotonic()
        with pytest.raises(StateUnavailable, match="locked"):
            await write(state)
        assert time.monotonic() - started < 0.5
    finally:
        release.set()
        await asyncio.to_thread(thread.join)
        await state.aclose()


async def test_counters_and_values_share_one_key_space(tmp_path):
    """A counter is an ordinary key: `set` replaces it, a number `set` (a seeded budget)
    counts on from there, and a value that is not a number refuses to count."""
    state = DiskState(tmp_path)
    try:
        assert await state.incr_float("b", 1.5) == 1.5
        assert await state.get("b") == b"1.5"
        assert not await state.compare_and_set("b", None, b"9")
        assert await state.compare_and_set("b", b"1.5", b"10")
        assert await state.get("b") == b"10"
        assert await state.reserve("b", 2.0, limit=11.0) == (False, 10.0)
        assert await state.incr_float("b", 0.5) == 10.5
        await state.set("b", b"text")
        assert await state.get("b") == b"text"
        with pytest.raises(StateError, match="counter"):
            await state.incr("b")
        await state.delete("b")
        assert await state.get("b") is None
        assert await state.incr("b", 2) == 2
        with pytest.raises(StateError, match="slots"):
            await state.slot_acquire("b", 1, 10)
    finally:
        await state.aclose()


async def test_a_counter_shared_by_two_processes_states(tmp_path):
    """Two DiskStates on one directory (two workers) count into the same row."""
    one, two = DiskState(tmp_path), DiskState(tmp_path)
    try:
        await one.incr("n", 2, ttl=60)
        await two.incr("n", 3)
        assert await one.get("n") == await two.get("n") == b"5"
        await two.delete("n")
        assert await one.get("n") is None
    finally:
        await one.aclose()
        await two.aclose()
