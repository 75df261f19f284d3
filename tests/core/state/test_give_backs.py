"""`GiveBacks`: give-backs gathered per key, written once per key after `max_age`, on
`flush`, and at shutdown."""

from __future__ import annotations

import asyncio

from litegate.state import MemoryState
from litegate.state.give_backs import GiveBacks


async def test_give_backs_are_summed_per_key_and_written_once_when_due():
    state = MemoryState("t:")
    await state.incr_float("a", 10.0)
    await state.incr_float("b", 10.0)
    written: list[tuple[str, float]] = []

    def apply(key: str):
        async def write(total: float) -> None:
            written.append((key, total))
            await state.incr_float(key, total)

        return write

    give_backs = GiveBacks(max_age=0.05)
    for _ in range(4):
        give_backs.add("a", -1.0, apply("a"))
    give_backs.add("b", -2.5, apply("b"))
    assert written == [] and len(give_backs) == 2  # nothing written yet: stricter, not looser
    assert await state.get("a") == b"10"
    await asyncio.sleep(0.15)
    assert sorted(written) == [("a", -4.0), ("b", -2.5)]
    assert await state.get("a") == b"6" and await state.get("b") == b"7.5"
    assert len(give_backs) == 0

    give_backs.add("a", -1.0, apply("a"))
    give_backs.add("b", -1.0, apply("b"))
    await give_backs.flush(["a"])  # before refusing a call on "a"
    assert await state.get("a") == b"5" and give_backs.pending("b")
    await give_backs.aclose()  # shutdown writes the rest
    assert await state.get("b") == b"6.5" and len(give_backs) == 0
    await state.aclose()


async def test_a_failing_write_is_logged_and_the_rest_still_written(caplog):
    give_backs = GiveBacks(max_age=0.01)
    done = []

    async def broken(total: float) -> None:
        raise ConnectionError("store down")

    async def fine(total: float) -> None:
        done.append(total)

    give_backs.add("x", -1.0, broken)
    give_backs.add("y", -2.0, fine)
    await asyncio.sleep(0.1)
    assert done == [-2.0]
    assert "give-back for a counter not written" in caplog.text
    await give_backs.aclose()
