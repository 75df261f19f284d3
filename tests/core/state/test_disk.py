"""What only DiskState does: a change log that tells a slow subscriber what it missed, and
a locked store that fails fast instead of stalling the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import diskcache
import pytest

from litegate.state import DiskState, StateUnavailable, _disk


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


async def test_a_locked_store_fails_fast_and_still_reads(tmp_path):
    state = DiskState(tmp_path, timeout=0.05)
    await state.set("k", b"v")
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        other = diskcache.Cache(str(tmp_path))
        with other.transact():
            locked.set()
            release.wait(5)
        other.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert locked.wait(5)
        assert await state.get("k") == b"v"  # WAL: readers never wait for the writer
        started = time.monotonic()
        with pytest.raises(StateUnavailable, match="locked"):
            await state.incr("c")
        assert time.monotonic() - started < 0.5
    finally:
        release.set()
        await asyncio.to_thread(holder.join)
        await state.aclose()
