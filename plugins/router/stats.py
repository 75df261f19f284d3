"""What the router remembers about each deployment: calls in flight, a moving average of
latency, recent failures and cool-downs.

`RouterStats` is the interface the strategies and the retry policy use; `LocalStats` keeps
it in this process (each Hypercorn worker has its own). A `litegate.state`-backed
implementation can replace it without touching the strategies.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["LocalStats", "RouterStats"]


class RouterStats(Protocol):
    def begin(self, deployment: str) -> None:
        """A call went to `deployment`."""

    def end(self, deployment: str) -> None:
        """A call on `deployment` ended (every `begin` gets one `end`)."""

    def record(self, deployment: str, latency: float | None, ok: bool) -> None:
        """An attempt on `deployment` ended after `latency` seconds."""

    def in_flight(self, deployment: str) -> int: ...

    def latency(self, deployment: str) -> float | None:
        """The moving average of attempt latency, None before the first attempt."""

    def cooling(self, deployment: str) -> bool:
        """Whether the deployment is in cool-down now."""


class LocalStats:
    """`RouterStats` in this process's memory."""

    def __init__(
        self,
        *,
        failures: int,
        window: float,
        cooldown: float,
        alpha: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failures_allowed = failures
        self._window = window
        self._cooldown = cooldown
        self._alpha = alpha
        self.clock = clock
        self._in_flight: dict[str, int] = {}
        self._latency: dict[str, float] = {}
        self._failures: dict[str, deque[float]] = {}
        self._cooling_until: dict[str, float] = {}

    def begin(self, deployment: str) -> None:
        self._in_flight[deployment] = self._in_flight.get(deployment, 0) + 1

    def end(self, deployment: str) -> None:
        self._in_flight[deployment] = max(0, self._in_flight.get(deployment, 0) - 1)

    def record(self, deployment: str, latency: float | None, ok: bool) -> None:
        if latency is not None:
            previous = self._latency.get(deployment)
            self._latency[deployment] = (
                latency if previous is None else previous + self._alpha * (latency - previous)
            )
        if ok or not self._failures_allowed:
            return
        now = self.clock()
        recent = self._failures.setdefault(deployment, deque())
        recent.append(now)
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        if len(recent) >= self._failures_allowed:
            self._cooling_until[deployment] = now + self._cooldown
            recent.clear()

    def in_flight(self, deployment: str) -> int:
        return self._in_flight.get(deployment, 0)

    def latency(self, deployment: str) -> float | None:
        return self._latency.get(deployment)

    def cooling(self, deployment: str) -> bool:
        until = self._cooling_until.get(deployment)
        return until is not None and self.clock() < until
