"""`State.windows_acquire`: several GCRA windows in one atomic step, all or nothing, with
the same answers as `window_acquire` gives one at a time. On every backend (conftest.py)."""

from __future__ import annotations

import pytest

from litegate.state import State

NOW = 1_000_000.0


async def test_all_are_taken_when_all_have_room(state: State):
    answers = await state.windows_acquire(
        [("rpm", 3, 60, 1), ("tpm", 1000, 60, 600), ("peek", 5, 60, 0)], now=NOW
    )
    assert [a.allowed for a in answers] == [True, True, True]
    assert [a.remaining for a in answers] == [2, 400, 5]
    assert answers[0].reset_after == pytest.approx(20)
    # Taken, as window_acquire would have: the next look sees them.
    assert (await state.window_acquire("rpm", 3, 60, cost=0, now=NOW)).remaining == 2
    assert (await state.window_acquire("tpm", 1000, 60, cost=0, now=NOW)).remaining == 400
    assert await state.get("peek") is None


async def test_none_is_taken_when_one_has_no_room(state: State):
    await state.window_acquire("tpm", 1000, 60, cost=900, now=NOW)
    answers = await state.windows_acquire([("rpm", 3, 60, 1), ("tpm", 1000, 60, 200)], now=NOW)
    assert [a.allowed for a in answers] == [True, False]
    assert answers[1].retry_after == pytest.approx(6)  # 100 tokens refill in 6 s
    assert (await state.window_acquire("rpm", 3, 60, cost=0, now=NOW)).remaining == 3
    assert (await state.window_acquire("tpm", 1000, 60, cost=0, now=NOW)).remaining == 100
    later = await state.windows_acquire([("rpm", 3, 60, 1), ("tpm", 1000, 60, 200)], now=NOW + 6)
    assert [a.allowed for a in later] == [True, True]


async def test_a_burst_stops_at_the_tightest_window(state: State):
    taken = 0
    for _ in range(10):
        answers = await state.windows_acquire([("a", 4, 60, 1), ("b", 6, 60, 1)], now=NOW)
        taken += all(a.allowed for a in answers)
    assert taken == 4
    assert (await state.window_acquire("b", 6, 60, cost=0, now=NOW)).remaining == 2


async def test_on_the_backends_clock(state: State):
    first = await state.windows_acquire([("w", 1, 30, 1)])
    second = await state.windows_acquire([("w", 1, 30, 1)])
    assert first[0].allowed and not second[0].allowed
    assert 29 < second[0].retry_after <= 30


async def test_bad_arguments_are_refused(state: State):
    with pytest.raises(ValueError, match="once"):
        await state.windows_acquire([("w", 1, 1, 1), ("w", 2, 1, 1)])
    with pytest.raises(ValueError):
        await state.windows_acquire([("w", 0, 1, 1)])
    with pytest.raises(ValueError):
        await state.windows_acquire([("w", 1, 1, -1)])
    assert await state.windows_acquire([]) == []
