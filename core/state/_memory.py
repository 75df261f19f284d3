"""`MemoryState`: a dict in this process. For tests, and for `memory:` when one process is
all there is. Each operation runs without awaiting, so it is atomic within its event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from ._base import (
    State,
    StateError,
    Subscription,
    as_float,
    as_int,
    gcra,
    gcra_all,
    number_text,
    over_limit,
)

__all__ = ["MemoryState"]

#: Expired entries are dropped when read, and all of them every this many writes.
_SWEEP_EVERY = 4096


class MemoryState(State):
    inline = True

    def __init__(self, prefix: str = "litegate:") -> None:
        super().__init__(prefix)
        # key -> (value, deadline on the monotonic clock or None)
        self._data: dict[str, tuple[Any, float | None]] = {}
        self._channels: dict[str, set[_MemorySubscription]] = {}
        self._writes = 0

    def _entry(self, key: str) -> tuple[Any, float | None]:
        entry = self._data.get(key)
        if entry is None:
            return None, None
        if entry[1] is not None and entry[1] <= time.monotonic():
            del self._data[key]
            return None, None
        return entry

    def _put(self, key: str, value: Any, ttl: float | None) -> None:
        self._data[key] = (value, None if ttl is None else time.monotonic() + ttl)
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            now = time.monotonic()
            for name in [k for k, (_, d) in self._data.items() if d is not None and d <= now]:
                del self._data[name]

    def _counter(
        self, key: str, total: float, entry: tuple[Any, float | None], ttl: float | None
    ) -> None:
        # A counter keeps the expiry it was created with; `ttl` only sets a missing one.
        if entry[0] is not None and (entry[1] is not None or ttl is None):
            self._data[key] = (total, entry[1])
        else:
            self._put(key, total, ttl)

    async def _get(self, key: str) -> bytes | None:
        value, _ = self._entry(key)
        if value is None or isinstance(value, bytes):
            return value
        if isinstance(value, int | float):
            return number_text(value)
        raise StateError(f"{key!r} does not hold a value")

    async def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._put(key, value, ttl)

    async def _delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def _compare_and_set(
        self, key: str, expected: bytes | None, value: bytes | None, ttl: float | None
    ) -> bool:
        if await self._get(key) != expected:
            return False
        if value is None:
            self._data.pop(key, None)
        else:
            self._put(key, value, ttl)
        return True

    async def _incr(self, key: str, amount: int, ttl: float | None) -> int:
        entry = self._entry(key)
        total = (0 if entry[0] is None else as_int(entry[0], key)) + amount
        self._counter(key, total, entry, ttl)
        return total

    async def _incr_float(self, key: str, amount: float, ttl: float | None) -> float:
        entry = self._entry(key)
        total = (0.0 if entry[0] is None else as_float(entry[0], key)) + amount
        self._counter(key, total, entry, ttl)
        return total

    async def _reserve(
        self, key: str, amount: float, limit: float, ttl: float | None
    ) -> tuple[bool, float]:
        entry = self._entry(key)
        current = 0.0 if entry[0] is None else as_float(entry[0], key)
        if over_limit(current + amount, limit):
            return False, current
        self._counter(key, current + amount, entry, ttl)
        return True, current + amount

    async def _window(
        self, key: str, limit: int, window: float, cost: float, now: float | None, force: bool
    ) -> tuple[bool, float]:
        now = time.time() if now is None else now
        value, _ = self._entry(key)
        tat = None if value is None else as_float(value, key)
        new_tat, allowed, level = gcra(tat, now, limit, window, cost, force)
        if new_tat is not None:
            if new_tat > now:
                self._put(key, new_tat, new_tat - now)
            else:
                self._data.pop(key, None)
        return allowed, level

    async def _windows(
        self, items: Sequence[tuple[str, int, float, float]], now: float | None
    ) -> list[tuple[bool, float]]:
        now = time.time() if now is None else now

        def read(key: str) -> float | None:
            value, _ = self._entry(key)
            return None if value is None else as_float(value, key)

        def write(key: str, tat: float | None) -> None:
            if tat is None:
                self._data.pop(key, None)
            else:
                self._put(key, tat, tat - now)

        return gcra_all(items, now, read, write)

    async def _slot_acquire(self, key: str, limit: int, lease: float, token: str) -> bool:
        now = time.time()
        value, _ = self._entry(key)
        if value is not None and not isinstance(value, dict):
            raise StateError(f"{key!r} does not hold slots")
        slots = {t: until for t, until in (value or {}).items() if until > now}
        if len(slots) >= limit:
            return False
        slots[token] = now + lease
        self._put(key, slots, max(slots.values()) - now)
        return True

    async def _slot_release(self, key: str, token: str) -> None:
        value, _ = self._entry(key)
        if isinstance(value, dict):
            value.pop(token, None)

    async def _publish(self, channel: str, message: bytes) -> None:
        for subscription in self._channels.get(channel, ()):
            subscription.queue.put_nowait(message)

    def _subscription(self, channel: str) -> Subscription:
        return _MemorySubscription(self, channel)

    async def _aclose(self) -> None:
        self._data.clear()


class _MemorySubscription(Subscription):
    def __init__(self, state: MemoryState, channel: str) -> None:
        self._state = state
        self._channel = channel
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._closed = False

    async def _start(self) -> None:
        self._state._channels.setdefault(self._channel, set()).add(self)

    async def __anext__(self) -> bytes | None:
        if self._closed:
            raise StopAsyncIteration
        message = await self.queue.get()
        if self._closed:
            raise StopAsyncIteration
        return message

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._state._channels.get(self._channel, set()).discard(self)
        self.queue.put_nowait(None)  # wakes a pending __anext__, which then stops
