"""`RouterStats` on `litegate.state`, shared by every worker and instance on one store.

The strategies ask synchronously and on every call, so reads come from an in-process
snapshot that a background task refreshes from the store every `refresh` seconds. Writes
are batched by the same task: in-flight counts as one net change and latencies as one mean
per deployment per refresh; only failures (rare, and what cool-downs hang on) are written at
once. The hot path therefore costs a few dict look-ups, whatever the backend, and the store
sees a handful of operations per deployment per refresh rather than per call. The price is
staleness: another worker sees a cool-down up to `refresh` seconds late (plus the time the
write takes), while the worker that saw the failures knows at once.

Keys, under the gateway's `[state] prefix`: ``router:cool:ID`` (present while cooling, with
a TTL), ``router:fail:ID`` (failures in the current fixed window, with a TTL),
``router:busy:ID`` (calls in flight) and ``router:ms:ID`` (moving average latency, text).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from litegate.state import State, StateError

from .stats import LocalStats

__all__ = ["SharedStats"]

log = logging.getLogger("litegate.router")


class SharedStats(LocalStats):
    """`RouterStats` kept in a `State`; works from a local snapshot until `connect`.

    The snapshot (what the strategies read) is `LocalStats`'s; this class adds what this
    worker has not written yet and the refresh that pulls the other workers' numbers."""

    def __init__(
        self,
        *,
        failures: int,
        window: float,
        cooldown: float,
        alpha: float = 0.3,
        refresh: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            failures=failures, window=window, cooldown=cooldown, alpha=alpha, clock=clock
        )
        self._refresh = refresh
        self._state: State | None = None
        self._ids: tuple[str, ...] = ()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        # What this worker has not written yet.
        self._busy_delta: dict[str, int] = {}
        self._samples: dict[str, list[float]] = {}

    async def connect(self, state: State, deployments: Sequence[str]) -> None:
        """Start sharing through `state` the stats of `deployments` (their ids)."""
        self._state, self._ids = state, tuple(deployments)
        await self._pull()
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def aclose(self) -> None:
        """Stop refreshing and let pending writes finish."""
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None
            try:
                await self._flush()
            except StateError as exc:
                log.warning("router: could not write shared stats: %s", exc)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._state = None

    # -- RouterStats (the reads are LocalStats's, on the shared snapshot) ------------------

    def begin(self, deployment: str) -> None:
        super().begin(deployment)
        self._busy_delta[deployment] = self._busy_delta.get(deployment, 0) + 1

    def end(self, deployment: str) -> None:
        super().end(deployment)
        self._busy_delta[deployment] = self._busy_delta.get(deployment, 0) - 1

    def record(self, deployment: str, latency: float | None, ok: bool) -> None:
        # Locally first, so the worker that saw the failures cools the deployment at once.
        super().record(deployment, latency, ok)
        if latency is not None:
            self._samples.setdefault(deployment, []).append(latency)
        if not ok and self._failures_allowed:
            self._write(self._count_failure, deployment)

    # -- writes --------------------------------------------------------------------------

    def _write(self, write: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        if self._state is None:
            return
        task = asyncio.get_running_loop().create_task(write(self._state, *args))
        self._tasks.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("router: shared stats write failed: %s", task.exception())

    async def _flush(self) -> None:
        state = self._state
        assert state is not None
        busy, self._busy_delta = self._busy_delta, {}
        samples, self._samples = self._samples, {}
        for deployment, amount in busy.items():
            if amount:
                await state.incr(f"router:busy:{deployment}", amount)
        for deployment, latencies in samples.items():
            await self._blend_latency(state, deployment, sum(latencies) / len(latencies))

    async def _blend_latency(self, state: State, deployment: str, latency: float) -> None:
        key = f"router:ms:{deployment}"
        for _ in range(5):  # another worker may be blending too: compare and set, retried
            old = await state.get(key)
            value = latency
            if old is not None:
                previous = float(old)
                value = previous + self._alpha * (latency - previous)
            if await state.compare_and_set(key, old, repr(value).encode()):
                return

    async def _count_failure(self, state: State, deployment: str) -> None:
        failures = await state.incr(f"router:fail:{deployment}", 1, ttl=self._window)
        if failures >= self._failures_allowed:
            await state.set(f"router:cool:{deployment}", b"1", ttl=self._cooldown)
            await state.delete(f"router:fail:{deployment}")
            self._cooling_until[deployment] = self.clock() + self._cooldown

    # -- reads ---------------------------------------------------------------------------

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self._flush()
                await self._pull()
            except StateError as exc:  # keep the last snapshot; the store may come back
                log.warning("router: could not refresh shared stats: %s", exc)

    async def _pull(self) -> None:
        state = self._state
        assert state is not None
        now = self.clock()
        for deployment in self._ids:
            cooling = await state.get(f"router:cool:{deployment}")
            if cooling is None:
                self._cooling_until.pop(deployment, None)
            else:
                # The store says only that it is cooling: hold that until after the next
                # refresh (which notices the end), or what this worker knows, if later.
                until = max(self._cooling_until.get(deployment, 0.0), now + 3 * self._refresh)
                self._cooling_until[deployment] = until
            busy = await state.get(f"router:busy:{deployment}")
            self._in_flight[deployment] = max(0, int(busy)) if busy is not None else 0
            latency = await state.get(f"router:ms:{deployment}")
            if latency is not None:
                self._latency[deployment] = float(latency)
