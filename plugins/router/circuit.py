"""Circuit breakers, one per deployment: closed (in use), open (skipped for a cool-down), then
half-open (a few probe calls decide: a success closes it, a failure opens it again)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import attrs

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Circuits"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


@attrs.define
class _Breaker:
    #: When recent attempts ended, and the failed ones' times (both within the window).
    calls: deque[float] = attrs.field(factory=deque)
    failures: deque[float] = attrs.field(factory=deque)
    #: While open: until when (monotonic); after that, half-open.
    open_until: float | None = None
    #: Probe calls in flight while half-open.
    probes: int = 0


class Circuits:
    """The breakers of one router. A breaker opens after `failures` failed attempts within
    `window` seconds, or when at least `min_calls` attempts ended in the window and a share
    of at least `rate` of them failed (0 turns either trigger off); it stays open for
    `cooldown` seconds, then lets `probes` calls through at a time until one ends."""

    def __init__(
        self,
        *,
        failures: int,
        window: float,
        cooldown: float,
        rate: float = 0.0,
        min_calls: int = 10,
        probes: int = 1,
        clock: Callable[[], float],
    ) -> None:
        self.failures_allowed = failures
        self.window = window
        self.cooldown = cooldown
        self.rate = rate
        self.min_calls = min_calls
        self.probes = probes
        self.clock = clock
        self._breakers: dict[str, _Breaker] = {}

    def _breaker(self, deployment: str) -> _Breaker:
        breaker = self._breakers.get(deployment)
        if breaker is None:
            breaker = self._breakers[deployment] = _Breaker()
        return breaker

    def state(self, deployment: str) -> str:
        breaker = self._breakers.get(deployment)
        if breaker is None or breaker.open_until is None:
            return CLOSED
        return OPEN if self.clock() < breaker.open_until else HALF_OPEN

    def available(self, deployment: str) -> bool:
        """Whether a call may go to the deployment now: closed, or half-open with a probe
        slot free."""
        breaker = self._breakers.get(deployment)
        if breaker is None or breaker.open_until is None:
            return True
        if self.clock() < breaker.open_until:
            return False
        return breaker.probes < self.probes

    def admit(self, deployment: str) -> bool:
        """A call goes to the deployment; True when it is a probe (the breaker is half-open)."""
        breaker = self._breakers.get(deployment)
        if breaker is None or breaker.open_until is None or self.clock() < breaker.open_until:
            return False
        breaker.probes += 1
        return True

    def record(self, deployment: str, ok: bool, probe: bool = False) -> bool:
        """An attempt ended; True when this opened the breaker."""
        breaker = self._breakers.get(deployment)
        if ok and not self.rate and (breaker is None or breaker.open_until is None):
            return False  # the common case: a success on a closed circuit
        if breaker is None:
            breaker = self._breakers[deployment] = _Breaker()
        now = self.clock()
        if probe:
            breaker.probes = max(0, breaker.probes - 1)
        if breaker.open_until is not None:
            if now < breaker.open_until:
                return False  # a call that began before it opened: no news
            if ok:  # a half-open success closes it
                breaker.open_until, breaker.probes = None, 0
                breaker.calls.clear()
                breaker.failures.clear()
                return False
            return self.open(deployment, now + self.cooldown)
        if not self.failures_allowed and not self.rate:
            return False
        horizon = now - self.window
        if self.rate:
            breaker.calls.append(now)
            while breaker.calls and breaker.calls[0] <= horizon:
                breaker.calls.popleft()
        if ok:
            return False
        breaker.failures.append(now)
        while breaker.failures and breaker.failures[0] <= horizon:
            breaker.failures.popleft()
        failed = len(breaker.failures)
        if self.failures_allowed and failed >= self.failures_allowed:
            return self.open(deployment, now + self.cooldown)
        calls = len(breaker.calls)
        if self.rate and calls >= self.min_calls and failed / calls >= self.rate:
            return self.open(deployment, now + self.cooldown)
        return False

    def release(self, deployment: str) -> None:
        """A probe ended without an outcome: its slot is free again, the state unchanged."""
        breaker = self._breakers.get(deployment)
        if breaker is not None:
            breaker.probes = max(0, breaker.probes - 1)

    def open(self, deployment: str, until: float) -> bool:
        """Open the breaker until `until` (or later, if it already is); True if it was not."""
        breaker = self._breaker(deployment)
        was_open = breaker.open_until is not None and self.clock() < breaker.open_until
        breaker.open_until = max(until, breaker.open_until or 0.0)
        breaker.probes = 0
        breaker.calls.clear()
        breaker.failures.clear()
        return not was_open

    def remaining(self, deployment: str) -> float:
        """Seconds until an open breaker turns half-open (0 when it is not open)."""
        breaker = self._breakers.get(deployment)
        if breaker is None or breaker.open_until is None:
            return 0.0
        return max(0.0, breaker.open_until - self.clock())
