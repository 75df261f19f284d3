"""`DiskState`: one diskcache directory (SQLite in WAL mode) shared by every worker process of
a host. Each read-modify-write runs in one SQLite ``BEGIN IMMEDIATE`` transaction
(`Cache.transact`), which serialises it against every other process.

The operations block, briefly: run inline they cost ~10-20 us for a read and ~100-200 us
for a write on this project's CI machine, while a hop through `asyncio.to_thread` alone
costs more than the operation (~250 us, and ~800 us for a transaction). So they run inline,
and a store locked longer than `timeout` raises `StateUnavailable` instead of stalling the
event loop for SQLite's default minute.

Rate-limit windows and counters live in tables of their own beside the cache
(`_sqlite_file.py`, `counters.db`): a plain UPSERT instead of diskcache's bookkeeping, 2-5x
cheaper per call. Counters are ordinary keys, so a key is in at most one of the two stores and
every write takes the counters file's lock first (see `_disk_counters.py`).

Pub/sub is a change log polled every `poll_interval`: a sequence number per channel and the
last `BACKLOG` messages, each kept for `RETENTION` seconds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import diskcache

from ._base import (
    EPSILON,
    State,
    StateError,
    StateUnavailable,
    Subscription,
    as_float,
    as_int,
    gcra,
    gcra_all,
    number_text,
    over_limit,
)
from ._disk_counters import COUNTERS_SCHEMA, CounterTable
from ._disk_windows import WINDOWS_SCHEMA, WindowTable
from ._sqlite_file import SqliteFile

__all__ = ["DiskState"]

#: Messages kept per channel for subscribers that poll late, and for how long.
BACKLOG = 1000
RETENTION = 60.0
_SEP = "\x1f"  # between a channel's name and its log entries' suffixes; never in real names


@contextlib.contextmanager
def _guard(directory: str) -> Iterator[None]:
    try:
        yield
    except diskcache.Timeout:
        raise StateUnavailable(f"the state store in {directory} stayed locked") from None
    except sqlite3.OperationalError as exc:
        raise StateUnavailable(f"the state store in {directory} failed: {exc}") from None


class DiskState(State):
    inline = True

    def __init__(
        self,
        directory: str | Path,
        prefix: str = "litegate:",
        *,
        poll_interval: float = 0.2,
        timeout: float = 1.0,
        size_limit: int = 2**30,
    ) -> None:
        """`size_limit` bytes: past it the least recently stored entries are evicted (the
        response cache's bodies, in practice: counters in use are stored all the time)."""
        super().__init__(prefix)
        self.directory = str(directory)
        self.poll_interval = poll_interval
        self._cache = diskcache.Cache(self.directory, timeout=timeout, size_limit=size_limit)
        self._file = SqliteFile(
            str(Path(self.directory) / "counters.db"), timeout, (WINDOWS_SCHEMA, COUNTERS_SCHEMA)
        )
        self._windows_table = WindowTable(self._file)
        self._counters = CounterTable(self._file)
        self._local: dict[str, set[_DiskSubscription]] = {}

    def _value(self, key: str) -> bytes | None:
        value = self._cache.get(key)
        if value is None or isinstance(value, bytes):
            return value
        if isinstance(value, int | float):
            return number_text(value)
        raise StateError(f"{key!r} does not hold a value")

    async def _get(self, key: str) -> bytes | None:
        found, number = self._counters.get(key)
        if found:
            return None if number is None else number_text(number)
        with _guard(self.directory):
            return self._value(key)

    async def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        with self._file.transaction() as db:
            self._counters.remove(db, key)
            with _guard(self.directory):
                self._cache.set(key, value, expire=ttl)

    async def _delete(self, key: str) -> None:
        with self._file.transaction() as db:
            self._counters.remove(db, key)
            with _guard(self.directory):
                self._cache.delete(key)

    async def _compare_and_set(
        self, key: str, expected: bytes | None, value: bytes | None, ttl: float | None
    ) -> bool:
        # Nothing in a transaction may await: another task of this event loop would join it.
        with self._file.transaction() as db:
            found, number, _ = self._counters.lookup(db, key, time.time())
            if found:
                current = None if number is None else number_text(number)
            else:
                with _guard(self.directory):
                    current = self._value(key)
            if current != expected:
                return False
            if found:
                self._counters.remove(db, key)
            with _guard(self.directory):
                if value is None:
                    self._cache.delete(key)
                else:
                    self._cache.set(key, value, expire=ttl)
            return True

    def _add(
        self, key: str, amount: float, ttl: float | None, limit: float | None, kind: Any
    ) -> tuple[bool, Any]:
        # A counter keeps the expiry it was created with; `ttl` only sets a missing one.
        now = time.time()
        expires = None if ttl is None else now + ttl
        ceiling = None if limit is None else limit + EPSILON * max(1.0, abs(limit))  # over_limit
        total = self._counters.add_to_live(key, amount, now, expires, ceiling)
        if total is not None:
            return True, total
        with self._file.transaction() as db:
            found, value, expires = self._counters.lookup(db, key, now)
            moved = False
            if not found:  # a number `set` in the cache (a seeded budget) becomes a counter
                with _guard(self.directory):
                    value, expires = self._cache.get(key, expire_time=True)
                moved = value is not None
            current = kind(0 if value is None else value, key)
            total = current + amount
            if limit is not None and over_limit(total, limit):
                return False, current
            if value is None or expires is None:
                expires = None if ttl is None else now + ttl
            self._counters.store(db, key, total, expires)
            if moved:
                with _guard(self.directory):
                    self._cache.delete(key)
            return True, total

    async def _incr(self, key: str, amount: int, ttl: float | None) -> int:
        _, total = self._add(key, amount, ttl, None, as_int)
        return int(total)

    async def _incr_float(self, key: str, amount: float, ttl: float | None) -> float:
        _, total = self._add(key, amount, ttl, None, as_float)
        return float(total)

    async def _reserve(
        self, key: str, amount: float, limit: float, ttl: float | None
    ) -> tuple[bool, float]:
        ok, total = self._add(key, amount, ttl, limit, as_float)
        return ok, float(total)

    async def _window(
        self, key: str, limit: int, window: float, cost: float, now: float | None, force: bool
    ) -> tuple[bool, float]:
        at = time.time() if now is None else now
        if force and cost:  # a settle: one statement when the window exists
            tat = self._windows_table.charge_live(key, at, cost * window / limit)
            if tat is not None:
                allowed = tat - at <= window + EPSILON
                return allowed, tat - at

        def step(read: Any, write: Any) -> tuple[bool, float]:
            new_tat, allowed, level = gcra(read(key), at, limit, window, cost, force)
            if new_tat is not None:
                write(key, new_tat if new_tat > at else None)
            return allowed, level

        return self._windows_table.run((key,), step)  # type: ignore[return-value]

    async def _windows(
        self, items: Sequence[tuple[str, int, float, float]], now: float | None
    ) -> list[tuple[bool, float]]:
        at = time.time() if now is None else now
        keys = list(dict.fromkeys(key for key, *_ in items))
        return self._windows_table.run(  # type: ignore[return-value]
            keys, lambda read, write: gcra_all(items, at, read, write)
        )

    def _not_a_counter(self, db: sqlite3.Connection, key: str, now: float) -> None:
        if self._counters.lookup(db, key, now)[1] is not None:
            raise StateError(f"{key!r} does not hold slots")

    async def _slot_acquire(self, key: str, limit: int, lease: float, token: str) -> bool:
        now = time.time()
        with self._file.transaction() as db, _guard(self.directory), self._cache.transact():
            self._not_a_counter(db, key, now)
            value = self._cache.get(key)
            if value is not None and not isinstance(value, dict):
                raise StateError(f"{key!r} does not hold slots")
            slots = {t: until for t, until in (value or {}).items() if until > now}
            if len(slots) >= limit:
                return False
            slots[token] = now + lease
            self._cache.set(key, slots, expire=max(slots.values()) - now)
            return True

    async def _slot_release(self, key: str, token: str) -> None:
        # A counter is never in the cache: releasing on one finds nothing, as on any key.
        with _guard(self.directory), self._cache.transact():
            value, expire_at = self._cache.get(key, expire_time=True)
            if isinstance(value, dict) and value.pop(token, None) is not None:
                ttl = None if expire_at is None else expire_at - time.time()
                if value and (ttl is None or ttl > 0):
                    self._cache.set(key, value, expire=ttl)
                else:
                    self._cache.delete(key)

    # -- the change log ------------------------------------------------------------------

    async def _publish(self, channel: str, message: bytes) -> None:
        with _guard(self.directory), self._cache.transact():
            number = self._cache.incr(channel + _SEP + "seq")
            self._cache.set(f"{channel}{_SEP}{number}", message, expire=RETENTION)
            self._cache.delete(f"{channel}{_SEP}{number - BACKLOG}")
        for subscription in self._local.get(channel, ()):
            subscription.wake.set()  # subscribers in this process need not wait for a poll

    def _last(self, channel: str) -> int:
        with _guard(self.directory):
            return int(self._cache.get(channel + _SEP + "seq", 0))

    def _since(self, channel: str, seen: int, last: int) -> list[bytes | None]:
        if last < seen:  # the store was wiped: whatever happened in between is unknown
            return [None]
        first = max(seen + 1, last - BACKLOG + 1)
        messages: list[bytes | None] = [None] if first > seen + 1 else []
        with _guard(self.directory):
            for number in range(first, last + 1):
                message = self._cache.get(f"{channel}{_SEP}{number}")
                if message is not None or not messages or messages[-1] is not None:
                    messages.append(message)  # runs of lost messages collapse into one None
        return messages

    def _subscription(self, channel: str) -> Subscription:
        return _DiskSubscription(self, channel)

    async def _aclose(self) -> None:
        self._cache.close()
        self._file.close()


class _DiskSubscription(Subscription):
    def __init__(self, state: DiskState, channel: str) -> None:
        self._state = state
        self._channel = channel
        self._seen = 0
        self._pending: collections.deque[bytes | None] = collections.deque()
        self.wake = asyncio.Event()
        self._closed = False

    async def _start(self) -> None:
        self._seen = self._state._last(self._channel)
        self._state._local.setdefault(self._channel, set()).add(self)

    async def __anext__(self) -> bytes | None:
        while not self._closed:
            if self._pending:
                return self._pending.popleft()
            try:
                last = self._state._last(self._channel)
            except StateUnavailable:
                last = self._seen  # the log keeps its messages; read it at the next poll
            if last != self._seen:
                self._pending.extend(self._state._since(self._channel, self._seen, last))
                self._seen = last
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._state.poll_interval):
                    await self.wake.wait()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._state._local.get(self._channel, set()).discard(self)
            self.wake.set()
