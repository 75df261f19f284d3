"""`GiveBacks`: what calls give back to shared counters, gathered per key and written together.

Rate limits and budgets take an estimate before a call and settle with the real figure after
it. The estimate is meant to be high (max_tokens, a dear price), so most settles give back,
and every one of them was a write to the state store on the call's path: with hundreds of
calls a second on a handful of keys, that is most of the store's work.

Giving back can wait; charging more cannot. So a plugin hands its give-backs (negative
adjustments) to a `GiveBacks`, which adds them up per key and writes one adjustment per key
when the first of them is `max_age` old (0.1 s by default), at the latest at shutdown. A
counter is then never below what it should be, only above it for that long, which can only
refuse a call -- and before refusing, the plugin calls `flush(keys)` and asks again, so
nothing is refused for want of a give-back still waiting here. Charges (positive
adjustments) are written at once by the plugin, as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

__all__ = ["GiveBacks"]

log = logging.getLogger("litegate.state")

#: Writes a key's gathered amount (a negative number) to the store.
Apply = Callable[[float], Awaitable[object]]


class _Pending:
    __slots__ = ("amount", "apply", "since")

    def __init__(self, amount: float, apply: Apply, since: float) -> None:
        self.amount = amount
        self.apply = apply
        self.since = since


class GiveBacks:
    def __init__(
        self,
        max_age: float = 0.1,
        *,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`timeout`: the longest one background write may take (a store that hangs)."""
        self.max_age = max_age
        self.timeout = timeout
        self._clock = clock
        # Insertion order is age order: the first entry is the next one due.
        self._pending: dict[str, _Pending] = {}
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def pending(self, key: str) -> bool:
        return key in self._pending

    def amount(self, key: str) -> float:
        """What is gathered for `key` and not written yet (0 or negative)."""
        entry = self._pending.get(key)
        return entry.amount if entry is not None else 0.0

    def add(self, key: str, amount: float, apply: Apply) -> None:
        """Gather `amount` (< 0) for `key`; `apply(total)` writes the total later. A key's
        latest `apply` is the one used (its limit or expiry may have changed)."""
        entry = self._pending.get(key)
        if entry is None:
            self._pending[key] = _Pending(amount, apply, self._clock())
        else:
            entry.amount += amount
            entry.apply = apply
        loop = asyncio.get_running_loop()
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:  # (a new event loop)
            self._task = loop.create_task(self._write_when_due())

    async def flush(self, keys: Iterable[str] | None = None) -> None:
        """Write what is gathered for `keys` (every key when None) now."""
        chosen = list(self._pending) if keys is None else [k for k in keys if k in self._pending]
        for key in chosen:
            entry = self._pending.pop(key)
            if entry.amount:
                await entry.apply(entry.amount)

    async def aclose(self) -> None:
        """Write everything (at shutdown) and stop the timer."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            await self.flush()
        except Exception as exc:  # a store that is down: its counters refill by themselves
            log.warning("give-backs not written at shutdown: %s", exc)

    async def _write_when_due(self) -> None:
        while self._pending:
            key, entry = next(iter(self._pending.items()))
            wait = entry.since + self.max_age - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                async with asyncio.timeout(self.timeout):
                    await self.flush((key,))
            except Exception as exc:
                # The counter keeps the higher figure: stricter, never looser. Logged, not
                # raised: no call is waiting on this write.
                log.warning("give-back for a counter not written: %s", exc)
