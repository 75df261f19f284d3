"""What the router remembers about each deployment: calls in flight, a moving average of
latency, requests and tokens in the last minute, and its circuit breaker.

`RouterStats` is the interface the strategies and the retry policy use; `LocalStats` keeps
it in this process; `SharedStats` (shared_stats.py) adds the other workers' numbers.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from .circuit import Circuits

__all__ = ["MINUTE", "LocalStats", "RouterStats"]

#: The window of the RPM and TPM counts, in seconds.
MINUTE = 60.0


class RouterStats(Protocol):
    def begin(self, deployment: str) -> bool:
        """A call went to `deployment`; True when it is a half-open breaker's probe."""

    def end(self, deployment: str) -> None:
        """A call on `deployment` ended (every `begin` gets one `end`)."""

    def record(self, deployment: str, latency: float | None, ok: bool, probe: bool = False) -> None:
        """An attempt on `deployment` ended after `latency` seconds (`probe`: as `begin`
        said)."""

    def abandon(self, deployment: str, probe: bool) -> None:
        """An attempt on `deployment` ended without an outcome (`probe`: as `begin` said)."""

    def charge(self, deployment: str, tokens: int) -> None:
        """A call on `deployment` used `tokens` (prompt + completion)."""

    def in_flight(self, deployment: str) -> int: ...

    def latency(self, deployment: str) -> float | None:
        """The moving average of attempt latency, None before the first attempt."""

    def requests(self, deployment: str) -> int:
        """Calls that went to `deployment` in the last minute."""

    def tokens(self, deployment: str) -> int:
        """Tokens `deployment` used in the last minute."""

    def cooling(self, deployment: str) -> bool:
        """Whether the deployment must be skipped now (breaker open, or half-open with
        every probe slot taken)."""

    def circuit(self, deployment: str) -> str:
        """ "closed", "open" or "half-open"."""


class _Minute:
    """Amounts over the last minute, in one-second buckets (so at most 61 of them, however
    busy): a deque of [second, amount] and their running sum."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()
        self.total = 0

    def add(self, now: float, amount: int) -> None:
        second = int(now)
        buckets = self.buckets
        if buckets and buckets[-1][0] == second:
            buckets[-1][1] += amount
        else:
            buckets.append([second, amount])
        self.total += amount

    def sum(self, now: float) -> int:
        buckets, horizon = self.buckets, now - MINUTE
        while buckets and buckets[0][0] + 1 <= horizon:
            self.total -= buckets.popleft()[1]
        return self.total

    def oldest(self) -> float | None:
        return float(self.buckets[0][0] + 1) if self.buckets else None


class LocalStats:
    """`RouterStats` in this process's memory."""

    def __init__(
        self,
        *,
        failures: int,
        window: float,
        cooldown: float,
        failure_rate: float = 0.0,
        min_calls: int = 10,
        probes: int = 1,
        alpha: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._alpha = alpha
        self.clock = clock
        self.circuits = Circuits(
            failures=failures,
            window=window,
            cooldown=cooldown,
            rate=failure_rate,
            min_calls=min_calls,
            probes=probes,
            clock=clock,
        )
        self._in_flight: dict[str, int] = {}
        self._latency: dict[str, float] = {}
        self._requests: dict[str, _Minute] = {}
        self._tokens: dict[str, _Minute] = {}

    def begin(self, deployment: str) -> bool:
        self._in_flight[deployment] = self._in_flight.get(deployment, 0) + 1
        minute = self._requests.get(deployment)
        if minute is None:
            minute = self._requests[deployment] = _Minute()
        minute.add(self.clock(), 1)
        return self.circuits.admit(deployment)

    def end(self, deployment: str) -> None:
        self._in_flight[deployment] = max(0, self._in_flight.get(deployment, 0) - 1)

    def record(self, deployment: str, latency: float | None, ok: bool, probe: bool = False) -> None:
        self._blend(deployment, latency)
        self.circuits.record(deployment, ok, probe)

    def _blend(self, deployment: str, latency: float | None) -> None:
        if latency is not None:
            previous = self._latency.get(deployment)
            self._latency[deployment] = (
                latency if previous is None else previous + self._alpha * (latency - previous)
            )

    def abandon(self, deployment: str, probe: bool) -> None:
        if probe:
            self.circuits.release(deployment)

    def charge(self, deployment: str, tokens: int) -> None:
        if tokens > 0:
            minute = self._tokens.get(deployment)
            if minute is None:
                minute = self._tokens[deployment] = _Minute()
            minute.add(self.clock(), tokens)

    def in_flight(self, deployment: str) -> int:
        return self._in_flight.get(deployment, 0)

    def latency(self, deployment: str) -> float | None:
        return self._latency.get(deployment)

    def requests(self, deployment: str) -> int:
        minute = self._requests.get(deployment)
        return 0 if minute is None else minute.sum(self.clock())

    def tokens(self, deployment: str) -> int:
        minute = self._tokens.get(deployment)
        return 0 if minute is None else minute.sum(self.clock())

    def cooling(self, deployment: str) -> bool:
        return not self.circuits.available(deployment)

    def circuit(self, deployment: str) -> str:
        return self.circuits.state(deployment)

    def minute_frees_in(self, deployment: str) -> float:
        """Seconds until this process's oldest counted request leaves the RPM window."""
        minute = self._requests.get(deployment)
        oldest = None if minute is None else minute.oldest()
        return 1.0 if oldest is None else max(0.0, oldest + MINUTE - self.clock())
