"""What every State backend promises, checked on each (see conftest.py). Waits are short:
expiry tests use TTLs of a few hundred milliseconds; windows take a fake clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from litegate.state import State, StateError, Window

from .conftest import OpenSibling

NOW = 1_000_000.0


async def sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def next_message(subscription, timeout: float = 1.0) -> bytes | None:
    async with asyncio.timeout(timeout):
        message: bytes | None = await anext(subscription)
        return message


# -- values ------------------------------------------------------------------------------


async def test_get_set_delete(state: State):
    assert await state.get("missing") is None
    await state.set("k", b"\x00binary\xff")
    assert await state.get("k") == b"\x00binary\xff"
    await state.set("k", b"two")
    assert await state.get("k") == b"two"
    await state.delete("k")
    await state.delete("k")
    assert await state.get("k") is None


async def test_set_expires_after_ttl(state: State):
    await state.set("short", b"v", ttl=0.2)
    await state.set("long", b"v", ttl=30)
    assert await state.get("short") == b"v"
    await asyncio.sleep(0.3)
    assert await state.get("short") is None
    assert await state.get("long") == b"v"


async def test_compare_and_set(state: State):
    assert await state.compare_and_set("k", None, b"open")
    assert not await state.compare_and_set("k", None, b"again")
    assert not await state.compare_and_set("k", b"closed", b"half-open")
    assert await state.compare_and_set("k", b"open", b"half-open", ttl=0.2)
    assert await state.get("k") == b"half-open"
    await asyncio.sleep(0.3)
    assert await state.get("k") is None
    await state.set("k", b"x")
    assert not await state.compare_and_set("k", b"y", None)
    assert await state.compare_and_set("k", b"x", None)
    assert await state.get("k") is None


async def test_bad_arguments_are_refused(state: State):
    with pytest.raises(ValueError, match="ttl"):
        await state.set("k", b"v", ttl=0)
    with pytest.raises(ValueError, match="limit"):
        await state.window_acquire("w", 0, 1)
    with pytest.raises(ValueError, match="window"):
        await state.window_acquire("w", 1, 0)
    with pytest.raises(ValueError, match="cost"):
        await state.window_acquire("w", 1, 1, cost=-1)
    with pytest.raises(ValueError, match="lease"):
        await state.slot_acquire("s", 1, lease=0)
    with pytest.raises(TypeError):
        await state.incr("c", 1.5)  # type: ignore[arg-type]  # the point of the test


# -- counters ----------------------------------------------------------------------------


async def test_incr_counts_and_reads_as_text(state: State):
    assert await state.incr("c") == 1
    assert await state.incr("c", 5) == 6
    assert await state.incr("c", -7) == -1
    assert await state.get("c") == b"-1"


async def test_incr_ttl_is_set_at_creation_not_pushed_back(state: State):
    start = time.monotonic()
    assert await state.incr("c", 1, ttl=0.4) == 1
    await sleep_until(start + 0.2)
    assert await state.incr("c", 1, ttl=0.4) == 2
    await sleep_until(start + 0.45)  # pushed back, it would live until start + 0.6
    assert await state.get("c") is None
    assert await state.incr("c", 1, ttl=0.4) == 1


async def test_incr_float_and_reserve(state: State):
    assert await state.incr_float("spend", 0.25) == pytest.approx(0.25)
    assert await state.incr_float("spend", 0.5) == pytest.approx(0.75)
    assert await state.reserve("spend", 0.2, 1.0) == (True, pytest.approx(0.95))
    assert await state.reserve("spend", 0.1, 1.0) == (False, pytest.approx(0.95))
    assert await state.incr_float("spend", -0.2) == pytest.approx(0.75)  # settled lower
    assert float(await state.get("spend") or b"") == pytest.approx(0.75)


async def test_reserve_fills_a_limit_exactly_despite_rounding(state: State):
    assert (await state.reserve("b", 0.1, 0.3))[0]
    assert (await state.reserve("b", 0.2, 0.3))[0]
    ok, total = await state.reserve("b", 0.001, 0.3)
    assert not ok
    assert total == pytest.approx(0.3)


async def test_reserve_ttl(state: State):
    assert await state.reserve("b", 1.0, 1.0, ttl=0.2) == (True, 1.0)
    assert (await state.reserve("b", 1.0, 1.0, ttl=0.2))[0] is False
    await asyncio.sleep(0.3)
    assert await state.reserve("b", 1.0, 1.0, ttl=0.2) == (True, 1.0)


async def test_a_value_is_not_a_counter(state: State):
    await state.set("v", b"text")
    with pytest.raises(StateError):
        await state.incr("v")
    with pytest.raises(StateError):
        await state.reserve("v", 1.0, 10.0)


# -- windows -----------------------------------------------------------------------------


async def test_window_admits_a_burst_of_limit_then_refills_continuously(state: State):
    taken = [await state.window_acquire("w", 3, 1.0, now=NOW) for _ in range(3)]
    assert [w.allowed for w in taken] == [True, True, True]
    assert [w.remaining for w in taken] == [2, 1, 0]
    assert taken[-1].reset_after == pytest.approx(1.0)

    refused = await state.window_acquire("w", 3, 1.0, now=NOW)
    assert refused == Window(False, 0, pytest.approx(1 / 3), pytest.approx(1.0))

    # A third of the window later, one unit is back: a sliding window, not a fixed one.
    later = await state.window_acquire("w", 3, 1.0, now=NOW + 1 / 3)
    assert later.allowed and later.remaining == 0
    assert not (await state.window_acquire("w", 3, 1.0, now=NOW + 1 / 3)).allowed
    full = await state.window_acquire("w", 3, 1.0, cost=0, now=NOW + 5)
    assert full == Window(True, 3, 0.0, 0.0)


async def test_window_cost(state: State):
    assert (await state.window_acquire("tpm", 1000, 60, cost=600, now=NOW)).remaining == 400
    refused = await state.window_acquire("tpm", 1000, 60, cost=500, now=NOW)
    assert not refused.allowed and refused.remaining == 400
    assert refused.retry_after == pytest.approx(6.0)  # 100 tokens at 1000 per minute
    assert not (await state.window_acquire("big", 1000, 60, cost=1001, now=NOW)).allowed


async def test_window_peek_takes_nothing(state: State):
    for _ in range(3):
        peek = await state.window_acquire("w", 2, 10, cost=0, now=NOW)
        assert peek == Window(True, 2, 0.0, 0.0)
    assert (await state.window_acquire("w", 2, 10, now=NOW)).remaining == 1


async def test_window_adjust_settles_both_ways(state: State):
    await state.window_acquire("tpm", 1000, 60, cost=500, now=NOW)  # the estimate
    refund = await state.window_adjust("tpm", 1000, 60, -300, now=NOW)  # used only 200
    assert refund.allowed and refund.remaining == 800
    debt = await state.window_adjust("tpm", 1000, 60, 1000, now=NOW)  # ...or 1200
    assert not debt.allowed and debt.remaining == 0
    assert debt.retry_after == pytest.approx(12.0)  # 200 tokens over, 1000 per minute
    assert not (await state.window_acquire("tpm", 1000, 60, cost=1, now=NOW + 12)).allowed
    assert (await state.window_acquire("tpm", 1000, 60, cost=1, now=NOW + 12.1)).allowed
    # Refunds never bank more than a full window.
    await state.window_adjust("fresh", 10, 1, -50, now=NOW)
    assert (await state.window_acquire("fresh", 10, 1, cost=0, now=NOW)).remaining == 10


async def test_window_on_the_backends_clock(state: State):
    first = await state.window_acquire("w", 1, 30)
    second = await state.window_acquire("w", 1, 30)
    assert first.allowed and not second.allowed
    assert 29 < second.retry_after <= 30


# -- slots -------------------------------------------------------------------------------


async def test_slots_are_limited_and_released(state: State):
    first = await state.slot_acquire("s", 2, lease=30)
    second = await state.slot_acquire("s", 2, lease=30)
    assert first and second and first != second
    assert await state.slot_acquire("s", 2, lease=30) is None
    await state.slot_release("s", first)
    await state.slot_release("s", first)
    await state.slot_release("s", "never-issued")
    assert await state.slot_acquire("s", 2, lease=30) is not None
    assert await state.slot_acquire("s", 2, lease=30) is None


async def test_a_slot_whose_holder_vanished_expires_with_its_lease(state: State):
    assert await state.slot_acquire("s", 1, lease=0.2)
    assert await state.slot_acquire("s", 1, lease=0.2) is None
    await asyncio.sleep(0.3)
    assert await state.slot_acquire("s", 1, lease=0.2)


# -- messages ----------------------------------------------------------------------------


async def test_subscribers_get_later_messages_in_order(state: State):
    await state.publish("news", b"before")
    async with state.subscribe("news") as first, state.subscribe("news") as second:
        await state.publish("other", b"elsewhere")
        for message in (b"one", b"two", b"three"):
            await state.publish("news", message)
        for subscription in (first, second):
            assert [await next_message(subscription) for _ in range(3)] == [
                b"one",
                b"two",
                b"three",
            ]


async def test_closing_the_state_ends_subscriptions(state: State):
    subscription = state.subscribe("news")
    await subscription.__aenter__()

    async def drain() -> list[bytes | None]:
        return [message async for message in subscription]

    reader = asyncio.create_task(drain())
    await asyncio.sleep(0.05)
    await state.aclose()
    async with asyncio.timeout(1):
        assert await reader == []
    await subscription.aclose()
    await state.aclose()
    with pytest.raises(StateError):
        state.subscribe("news")


# -- sharing -----------------------------------------------------------------------------


async def test_states_on_one_store_share_their_prefix_only(
    state: State, open_sibling: OpenSibling, prefix: str
):
    same = await open_sibling()
    other = await open_sibling("other-" + prefix)
    await state.set("k", b"mine")
    assert await same.get("k") == b"mine"
    assert await other.get("k") is None
    assert await state.incr("c") == 1
    assert await same.incr("c") == 2
    assert await other.incr("c") == 1
    assert (await same.window_acquire("w", 1, 60, now=NOW)).allowed
    assert not (await state.window_acquire("w", 1, 60, now=NOW)).allowed
    assert (await other.window_acquire("w", 1, 60, now=NOW)).allowed


async def test_messages_reach_another_state_on_the_store_within_a_second(
    state: State, open_sibling: OpenSibling, prefix: str
):
    same = await open_sibling()
    other = await open_sibling("other-" + prefix)
    async with same.subscribe("keys") as theirs, other.subscribe("keys") as unrelated:
        sent = time.monotonic()
        await state.publish("keys", b"revoked:abc")
        assert await next_message(theirs) == b"revoked:abc"
        assert time.monotonic() - sent < 1.0
        with pytest.raises(TimeoutError):
            await next_message(unrelated, timeout=0.3)
