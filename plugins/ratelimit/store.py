"""The state store as the rate limiter uses it: with a deadline, and a policy for when it
cannot be reached.

Every call's windows and slots are taken on the gateway's `[state] kv` store. When that
fails (`StateUnavailable`, or no answer within `timeout`), the store is skipped for `retry`
seconds and the policy decides: "open" takes the same windows on an in-process
`MemoryState` (each worker then enforces the limits on its own), "closed" refuses the call
with 503. The first call after `retry` tries the store again, so recovery needs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from litegate import Gateway, GatewayError
from litegate.state import MemoryState, State, StateError

__all__ = ["Store"]

log = logging.getLogger("litegate.ratelimit")

T = TypeVar("T")


class Store:
    def __init__(
        self,
        *,
        policy: str,
        timeout: float,
        retry: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.retry = retry
        self.clock = clock
        #: Where windows are counted while the store is unavailable (policy "open").
        self.local = MemoryState("ratelimit-local:")
        self._gateway: Gateway | None = None
        self._state: State | None = None
        self._down_until = 0.0

    def bind(self, gateway: Gateway) -> None:
        self._gateway = gateway

    @property
    def down(self) -> bool:
        return self.clock() < self._down_until

    async def connect(self) -> None:
        """Open the store now (at start-up), so the first call does not wait for it. Not
        bound by `timeout`: the first open imports and connects (the backends' own
        connect timeouts bound it), and start-up is no call's latency."""
        await self._shared(at_startup=True)

    async def run(self, operation: Callable[[State], Awaitable[T]]) -> tuple[T, State]:
        """`operation` on the shared store, or per the policy when that is unavailable;
        its result and the State it ran on (settle on the same one later)."""
        state = await self._shared()
        if state is not None:
            try:
                if state.inline:  # nothing to time out (and asyncio.timeout costs ~25 us)
                    return await operation(state), state
                async with asyncio.timeout(self.timeout):
                    return await operation(state), state
            except (StateError, TimeoutError) as exc:
                self._failed(exc)
        if self.policy == "closed":
            wait = max(1, math.ceil(self._down_until - self.clock()))
            raise GatewayError(
                503,
                "Rate limits cannot be checked right now; try again shortly.",
                code="rate_limit_unavailable",
                headers={"retry-after": str(wait)},
            )
        return await operation(self.local), self.local

    async def settle(self, state: State, operation: Callable[[State], Awaitable[object]]) -> None:
        """`operation` (giving back, releasing) on the State the call took from; skipped
        when that is the shared store and it is down (its windows refill by themselves)."""
        if state is not self.local and (self.down or state is not self._state):
            return
        try:
            if state.inline:
                await operation(state)
            else:
                async with asyncio.timeout(self.timeout):
                    await operation(state)
        except (StateError, TimeoutError) as exc:
            if state is not self.local:
                self._failed(exc)

    async def _shared(self, *, at_startup: bool = False) -> State | None:
        if self._state is not None and not self.down:
            return self._state
        if self.down or self._gateway is None:
            return None
        try:
            async with asyncio.timeout(None if at_startup else self.timeout):
                self._state = await self._gateway.open_state()
        except (StateError, TimeoutError) as exc:
            self._failed(exc)
            return None
        return self._state

    def _failed(self, exc: BaseException) -> None:
        if not self.down:
            reason = str(exc) or type(exc).__name__
            policy = "counting in this process" if self.policy == "open" else "refusing calls"
            log.warning(
                "ratelimit: the state store is unavailable (%s); %s for %gs",
                reason,
                policy,
                self.retry,
            )
        self._down_until = self.clock() + self.retry

    async def aclose(self) -> None:
        await self.local.aclose()
