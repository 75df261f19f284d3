"""The outage policy: when `[state] kv` cannot be reached, "open" counts in the process
with the same limits and "closed" refuses with 503; either way within a bounded time, and
the store is used again once it answers."""

from __future__ import annotations

import asyncio
import time

import pytest

from litegate import Gateway, GatewayError, Principal
from litegate.plugins.ratelimit import RateLimitPlugin
from litegate.plugins.ratelimit.store import Store
from litegate.state import MemoryState, StateUnavailable
from litegate.testing import free_port, make_call, run_hook


def chat(key: str = "k1"):
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return make_call(request, principal=Principal(key, "static"))


def nowhere() -> str:
    """A Redis URL where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


async def started(kv: str, options: str) -> tuple[Gateway, RateLimitPlugin]:
    toml = (
        f'[state]\nkv = "{kv}"\n[[pipeline]]\nplugin = "ratelimit"\n{options}\n'
        '[[models]]\nname = "m"\nprovider = "mock"\n'
    )
    gateway = Gateway.from_toml(toml, {})
    await gateway.start()
    return gateway, gateway.plugins[0]


async def outcomes(plugin: RateLimitPlugin, n: int) -> list[int]:
    statuses = []
    for _ in range(n):
        try:
            await run_hook(plugin, "pre_call", call=chat())
            statuses.append(200)
        except GatewayError as error:
            statuses.append(error.status)
    return statuses


async def test_fail_open_counts_locally_with_the_same_limits(caplog):
    gateway, plugin = await started(nowhere(), "key_limits = { rpm = 3 }")
    try:
        begun = time.monotonic()
        assert await outcomes(plugin, 5) == [200, 200, 200, 429, 429]
        assert time.monotonic() - begun < 2  # no call waits for the store
    finally:
        await gateway.aclose()
    warnings = [r.getMessage() for r in caplog.records if r.name == "litegate.ratelimit"]
    assert len(warnings) == 1 and "counting in this process" in warnings[0]


async def test_fail_closed_refuses_with_503_and_retry_after():
    gateway, plugin = await started(
        nowhere(), 'key_limits = { rpm = 3 }\non_unavailable = "closed"\nstore_retry = "7s"'
    )
    try:
        with pytest.raises(GatewayError) as raised:
            await run_hook(plugin, "pre_call", call=chat())
    finally:
        await gateway.aclose()
    error = raised.value
    assert error.status == 503 and error.code == "rate_limit_unavailable"
    assert 1 <= int(error.headers["retry-after"]) <= 7


async def test_calls_without_applicable_limits_never_touch_the_store():
    gateway, plugin = await started(
        nowhere(), 'team_limits = { rpm = 1 }\non_unavailable = "closed"'
    )
    try:
        await run_hook(plugin, "pre_call", call=chat())  # no team: nothing to check
    finally:
        await gateway.aclose()


class FlakyState(MemoryState):
    """A store that fails (or hangs) while told to."""

    inline = False  # it can hang: the store must time it out

    def __init__(self) -> None:
        super().__init__("flaky:")
        self.mode = "up"
        self.windows = 0

    async def _window(self, key, limit, window, cost, now, force):
        if self.mode == "down":
            raise StateUnavailable("the test took it down")
        if self.mode == "hang":
            await asyncio.sleep(30)
        self.windows += 1
        return await super()._window(key, limit, window, cost, now, force)


class FakeGateway:
    def __init__(self, state: FlakyState) -> None:
        self.state = state

    async def open_state(self) -> FlakyState:
        return self.state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def acquire(state):
    return await state.window_acquire("w", 100, 60)


async def test_the_store_is_skipped_while_down_and_used_again_after_store_retry():
    flaky, clock = FlakyState(), Clock()
    store = Store(policy="open", timeout=0.5, retry=5, clock=clock)
    store.bind(FakeGateway(flaky))  # type: ignore[arg-type]  # duck-typed gateway
    _, used = await store.run(acquire)
    assert used is flaky
    flaky.mode = "down"
    _, used = await store.run(acquire)
    assert used is store.local
    flaky.mode = "up"
    clock.now += 4  # still within store_retry: not even tried
    _, used = await store.run(acquire)
    assert used is store.local and flaky.windows == 1
    clock.now += 2
    _, used = await store.run(acquire)
    assert used is flaky and flaky.windows == 2


async def test_a_hanging_store_costs_at_most_the_timeout():
    flaky = FlakyState()
    flaky.mode = "hang"
    store = Store(policy="open", timeout=0.2, retry=5)
    store.bind(FakeGateway(flaky))  # type: ignore[arg-type]  # duck-typed gateway
    begun = time.monotonic()
    _, used = await store.run(acquire)
    assert used is store.local
    assert time.monotonic() - begun < 1.5
    # Later calls skip the store at once.
    begun = time.monotonic()
    await store.run(acquire)
    assert time.monotonic() - begun < 0.1
    await store.aclose()


async def test_settling_on_a_store_that_went_down_is_skipped():
    flaky, clock = FlakyState(), Clock()
    store = Store(policy="open", timeout=0.5, retry=5, clock=clock)
    store.bind(FakeGateway(flaky))  # type: ignore[arg-type]  # duck-typed gateway
    _, used = await store.run(acquire)
    flaky.mode = "down"
    await store.run(acquire)  # marks it down
    await store.settle(used, acquire)  # no error, no attempt
    assert flaky.windows == 1
