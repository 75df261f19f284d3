"""What only RedisState does: clients on separate connections racing in one process, keys
that carry the prefix on the server, a reconnect reported to subscribers, and errors that
never show the password."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from litegate.state import StateUnavailable, open_state
from litegate.testing import free_port

from .conftest import forget_prefix

pytestmark = pytest.mark.services

redis = pytest.importorskip("redis.asyncio")


@pytest.fixture
async def two_states(redis_url: str, prefix: str) -> AsyncIterator[tuple]:
    from litegate.state._redis import RedisState

    first = await RedisState.connect(redis_url, prefix)
    second = await RedisState.connect(redis_url, prefix)
    yield first, second
    await first.aclose()
    await second.aclose()
    await forget_prefix(redis_url, prefix)


async def test_two_clients_racing_never_take_more_than_the_limit(two_states):
    async def take(state, kind: str) -> int:
        taken = 0
        for _ in range(60):
            if kind == "window":
                taken += (await state.window_acquire("w", 50, 60, now=1_000_000.0)).allowed
            else:
                taken += (await state.reserve("budget", 0.5, 25.0))[0]
        return taken

    for kind in ("window", "reserve"):
        shares = await asyncio.gather(*(take(state, kind) for state in two_states))
        assert sum(shares) == 50, (kind, shares)
        assert all(shares), (kind, shares)


async def test_keys_carry_the_prefix_and_their_ttl(two_states, redis_url: str, prefix: str):
    state, _ = two_states
    await state.incr("hits", 1, ttl=30)
    await state.window_acquire("w", 10, 60)
    raw = redis.Redis.from_url(redis_url)
    try:
        assert await raw.get(prefix + "hits") == b"1"
        assert 0 < await raw.pttl(prefix + "hits") <= 30_000
        assert 0 < await raw.pttl(prefix + "w") <= 6_000
    finally:
        await raw.aclose()


async def test_a_reconnected_subscriber_is_told_it_may_have_missed_messages(
    redis_url: str, prefix: str
):
    from litegate.state._redis import RedisState

    name = f"litegate-test-{uuid.uuid4().hex[:12]}"
    state = RedisState(redis.Redis.from_url(redis_url, client_name=name), prefix)
    admin = redis.Redis.from_url(redis_url)
    try:
        async with state.subscribe("keys") as messages:
            # Drop this subscriber's connection, and no other client's.
            ours = [c for c in await admin.client_list() if c.get("name") == name]
            assert ours
            for client in ours:
                await admin.client_kill_filter(_id=client["id"])
            async with asyncio.timeout(5):
                assert await anext(messages) is None
            await state.publish("keys", b"after")
            async with asyncio.timeout(5):
                assert await anext(messages) == b"after"
    finally:
        await admin.aclose()
        await state.aclose()


async def test_an_unreachable_redis_is_named_without_its_password():
    url = f"redis://app:s3cret@127.0.0.1:{free_port()}/0"
    with pytest.raises(StateUnavailable) as caught:
        await open_state(url)
    assert "s3cret" not in str(caught.value)
    assert "redis://app:***@127.0.0.1" in str(caught.value)
