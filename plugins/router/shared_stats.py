"""`RouterStats` on `litegate.state`, shared by every worker and instance on one store.

The strategies ask synchronously and on every call, so reads come from an in-process
snapshot that a background task refreshes from the store every `refresh` seconds. Writes
are batched by the same task; only failures (rare, and what circuits hang on) are written at
once. The hot path therefore costs a few dict look-ups, whatever the backend, and the store
sees a handful of operations per refresh rather than per call. The price is staleness:
another worker sees an open circuit, or a change in counts, up to `refresh` seconds late.

Each worker publishes its own calls in flight, requests and tokens of the last minute as one
value, ``router:w:WORKER``, written every refresh with a lease (a TTL): a worker that dies
mid-call stops counting when its lease runs out instead of leaving its calls counted
forever. ``router:workers`` lists the live workers (id -> lease end, Unix time). Other keys,
under the gateway's `[state] prefix`: ``router:cool:ID`` (present while a circuit is open,
with a TTL), ``router:fail:ID`` and ``router:calls:ID`` (failures and attempts in the
current fixed window, with a TTL) and ``router:ms:ID`` (moving average latency, text).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import orjson

from litegate.state import State, StateError

from .circuit import OPEN
from .stats import LocalStats

__all__ = ["SharedStats"]

log = logging.getLogger("litegate.router")

_WORKERS = "router:workers"


class SharedStats(LocalStats):
    """`RouterStats` kept in a `State`; works from a local snapshot until `connect`.

    The inherited counters are this worker's own; `_others` holds the sum of the other live
    workers' numbers from the last refresh."""

    def __init__(self, *, refresh: float = 0.2, **stats: Any) -> None:
        """`refresh`: seconds between reads of the other workers' numbers; `stats`: as for
        `LocalStats` (one list of knobs, not two to keep in step)."""
        super().__init__(**stats)
        self._refresh = refresh
        #: How long a worker's published counts outlive its last refresh.
        self.lease = max(5.0, 20 * refresh)
        self.worker = uuid.uuid4().hex[:16]
        self._window = float(stats["window"])
        self._cooldown = float(stats["cooldown"])
        self._state: State | None = None
        self._ids: tuple[str, ...] = ()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._registered_until = 0.0
        # The other workers' numbers: deployment -> (in flight, requests, tokens).
        self._others: dict[str, tuple[int, int, int]] = {}
        # What this worker has not written yet.
        self._samples: dict[str, list[float]] = {}
        self._attempts: dict[str, int] = {}

    async def connect(self, state: State, deployments: Sequence[str]) -> None:
        """Start sharing through `state` the stats of `deployments` (their ids)."""
        self._state, self._ids = state, tuple(deployments)
        await self._flush()
        await self._pull()
        self._refresher = asyncio.create_task(self._refresh_forever())

    def connected_state(self) -> State | None:
        """The store, while sharing through one."""
        return self._state

    async def aclose(self) -> None:
        """Stop refreshing, let pending writes finish and withdraw this worker's counts."""
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None
            try:
                await self._flush()
                await self._withdraw()
            except StateError as exc:
                log.warning("router: could not write shared stats: %s", exc)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._state = None

    # -- RouterStats (own numbers plus the others') -------------------------------------

    def record(self, deployment: str, latency: float | None, ok: bool, probe: bool = False) -> None:
        if self._state is None:  # not sharing (yet): this worker's own stats
            return super().record(deployment, latency, ok, probe)
        # Locally first, so the worker that saw the failures opens the circuit at once.
        self._blend(deployment, latency)
        if latency is not None:
            self._samples.setdefault(deployment, []).append(latency)
        self._attempts[deployment] = self._attempts.get(deployment, 0) + 1
        was_closed = self.circuits.state(deployment) != OPEN
        if self.circuits.record(deployment, ok, probe):
            self._write(self._open, deployment)
        elif not ok and was_closed and self.circuits.state(deployment) != OPEN:
            self._write(self._count_failure, deployment)

    def in_flight(self, deployment: str) -> int:
        others = self._others.get(deployment)
        own = self._in_flight.get(deployment, 0)
        return own if others is None else own + others[0]

    def requests(self, deployment: str) -> int:
        others = self._others.get(deployment)
        own = super().requests(deployment)
        return own if others is None else own + others[1]

    def tokens(self, deployment: str) -> int:
        others = self._others.get(deployment)
        own = super().tokens(deployment)
        return own if others is None else own + others[2]

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
        mine = {
            d: [self._in_flight.get(d, 0), LocalStats.requests(self, d), LocalStats.tokens(self, d)]
            for d in self._ids
        }
        await state.set(f"router:w:{self.worker}", orjson.dumps(mine), ttl=self.lease)
        if self._registered_until - time.time() < self.lease / 2:
            await self._register(state)
        attempts, self._attempts = self._attempts, {}
        if self.circuits.rate:
            for deployment, count in attempts.items():
                await state.incr(f"router:calls:{deployment}", count, ttl=self._window)
        samples, self._samples = self._samples, {}
        for deployment, latencies in samples.items():
            await self._blend_latency(state, deployment, sum(latencies) / len(latencies))

    async def _register(self, state: State) -> None:
        until = time.time() + self.lease
        for _ in range(5):  # compare and set, retried: other workers register too
            old = await state.get(_WORKERS)
            workers = _live_workers(old)
            workers[self.worker] = until
            if await state.compare_and_set(_WORKERS, old, orjson.dumps(workers)):
                self._registered_until = until
                return

    async def _withdraw(self) -> None:
        state = self._state
        assert state is not None
        await state.delete(f"router:w:{self.worker}")
        for _ in range(5):
            old = await state.get(_WORKERS)
            workers = _live_workers(old)
            workers.pop(self.worker, None)
            if await state.compare_and_set(_WORKERS, old, orjson.dumps(workers)):
                return

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
        circuits = self.circuits
        failures = await state.incr(f"router:fail:{deployment}", 1, ttl=self._window)
        trips = bool(circuits.failures_allowed) and failures >= circuits.failures_allowed
        if not trips and circuits.rate:
            stored = await state.get(f"router:calls:{deployment}")
            calls = max(failures, int(stored) if stored is not None else 0)
            trips = calls >= circuits.min_calls and failures / calls >= circuits.rate
        if trips:
            circuits.open(deployment, self.clock() + self._cooldown)
            await self._open(state, deployment)

    async def _open(self, state: State, deployment: str) -> None:
        await state.set(f"router:cool:{deployment}", b"1", ttl=self._cooldown)
        await state.delete(f"router:fail:{deployment}")

    # -- reads ---------------------------------------------------------------------------

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self._flush()
                await self._pull()
            except StateError as exc:  # keep the last snapshot; the store may come back
                log.warning("router: could not refresh shared stats: %s", exc)
            except Exception:  # a value this version cannot read: keep refreshing
                log.exception("router: unreadable shared stats in the store")

    async def _pull(self) -> None:
        state = self._state
        assert state is not None
        now = self.clock()
        others: dict[str, list[int]] = {}
        for worker in _live_workers(await state.get(_WORKERS)):
            if worker == self.worker:
                continue
            blob = await state.get(f"router:w:{worker}")
            if blob is None:
                continue  # its lease ran out: a worker that died counts no more
            for deployment, numbers in orjson.loads(blob).items():
                total = others.setdefault(deployment, [0, 0, 0])
                for index in range(3):
                    total[index] += numbers[index]
        self._others = {d: (t[0], t[1], t[2]) for d, t in others.items()}
        for deployment in self._ids:
            # The store says only that it is open: hold that until after the next refresh
            # (which notices the end), or what this worker knows, if later.
            cooling = await state.get(f"router:cool:{deployment}") is not None
            circuits = self.circuits
            if cooling and (
                circuits.state(deployment) != OPEN or circuits.remaining(deployment) < self._refresh
            ):
                circuits.open(deployment, now + 3 * self._refresh)
            latency = await state.get(f"router:ms:{deployment}")
            if latency is not None:
                self._latency[deployment] = float(latency)


def _live_workers(value: bytes | None) -> dict[str, float]:
    if value is None:
        return {}
    now = time.time()
    return {worker: until for worker, until in orjson.loads(value).items() if until > now}
