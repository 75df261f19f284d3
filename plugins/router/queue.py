"""Calls waiting for a deployment when every deployment of their alias is at its limit:
highest priority first, then first come first served, each for a bounded time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

import attrs

__all__ = ["WaitQueue"]

T = TypeVar("T")


@attrs.define(order=True)
class _Waiter:
    rank: int
    seq: int
    event: asyncio.Event = attrs.field(order=False)


class WaitQueue(Generic[T]):
    """Waiters per alias. Only the head of an alias's queue may take what frees up; `wake`
    (a call ended) and a short poll (limits over time refill, other workers' counts change)
    make it look again."""

    def __init__(self, size: int, poll: float = 0.05) -> None:
        self.size = size
        self.poll = poll
        self._queues: dict[str, list[_Waiter]] = {}
        self._waiting = 0
        self._seq = itertools.count()

    def waiting(self, alias: str) -> int:
        return len(self._queues.get(alias, ()))

    async def wait(
        self, alias: str, priority: int, take: Callable[[], T | None], timeout: float
    ) -> T | None:
        """Wait up to `timeout` seconds for `take` to answer non-None while this call heads
        the queue; None when the time ran out or the queue is full."""
        if self._waiting >= self.size or timeout <= 0:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        queue = self._queues.setdefault(alias, [])
        waiter = _Waiter(-priority, next(self._seq), asyncio.Event())
        heapq.heappush(queue, waiter)
        self._waiting += 1
        try:
            while True:
                if queue[0] is waiter:
                    taken = take()
                    if taken is not None:
                        return taken
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                waiter.event.clear()
                try:
                    async with asyncio.timeout(min(remaining, self.poll)):
                        await waiter.event.wait()
                except TimeoutError:
                    pass
        finally:
            self._waiting -= 1
            queue.remove(waiter)
            heapq.heapify(queue)
            if queue:
                queue[0].event.set()  # the next in line may take what this one did not
            else:
                self._queues.pop(alias, None)

    def wake(self, alias: str) -> None:
        """Something freed up for `alias`: let its head look."""
        queue = self._queues.get(alias)
        if queue:
            queue[0].event.set()
