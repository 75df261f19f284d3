"""What the spawned processes of the race and pub/sub tests run (importable by name, as
spawn needs). Each opens its own State, as a Hypercorn worker or another instance would."""

from __future__ import annotations

import asyncio
import contextlib
import time

from litegate.state import State, open_state

#: How many processes race.
PROCESSES = 3
#: The fake clock every racer passes, so no capacity refills during a race.
NOW = 1_000_000.0


def warm_up() -> None:
    """Run as each process starts: import what the tests will need."""
    with contextlib.suppress(ImportError):  # without the redis client, its tests skip
        import litegate.state._redis  # noqa: F401  # imported for its cost, not its names


async def _all_ready(state: State, parties: int) -> None:
    """A barrier through the store itself: every racer opened its State before any runs."""
    await state.incr("ready")
    async with asyncio.timeout(20):
        while int(await state.get("ready") or 0) < parties:
            await asyncio.sleep(0.001)


def race(url: str, prefix: str, kind: str, attempts: int, limit: int, parties: int) -> int:
    """Once all `parties` are ready, try `attempts` times to take one unit of a shared
    `limit`; how many were taken."""
    return asyncio.run(_race(url, prefix, kind, attempts, limit, parties))


async def _race(url: str, prefix: str, kind: str, attempts: int, limit: int, parties: int) -> int:
    state = await open_state(url, prefix=prefix)
    try:
        await _all_ready(state, parties)
        taken = 0
        for _ in range(attempts):
            if kind == "window":
                taken += (await state.window_acquire("w", limit, 60, now=NOW)).allowed
            elif kind == "reserve":
                taken += (await state.reserve("budget", 1.0, float(limit)))[0]
            elif kind == "incr":
                await state.incr("hits", 1, ttl=60)
                taken += 1
            elif kind == "slots":
                taken += await state.slot_acquire("slots", limit, lease=60) is not None
            await asyncio.sleep(0.0005)  # spread out, so every racer is still at it
        return taken
    finally:
        await state.aclose()


def hold_slots(url: str, prefix: str, rounds: int, limit: int, parties: int) -> int:
    """Take a slot, count ourselves in, count ourselves out, release; the most holders seen
    at once (never above `limit` if slots exclude)."""
    return asyncio.run(_hold_slots(url, prefix, rounds, limit, parties))


async def _hold_slots(url: str, prefix: str, rounds: int, limit: int, parties: int) -> int:
    state = await open_state(url, prefix=prefix)
    try:
        await _all_ready(state, parties)
        most = 0
        for _ in range(rounds):
            token = await state.slot_acquire("slots", limit, lease=60)
            if token is None:
                continue
            most = max(most, await state.incr("inside"))
            await asyncio.sleep(0.001)
            await state.incr("inside", -1)
            await state.slot_release("slots", token)
        return most
    finally:
        await state.aclose()


def publish(url: str, prefix: str, channel: str, message: bytes) -> float:
    """Publish one message; when (Unix time) it was sent."""
    return asyncio.run(_publish(url, prefix, channel, message))


async def _publish(url: str, prefix: str, channel: str, message: bytes) -> float:
    state = await open_state(url, prefix=prefix)
    try:
        sent_at = time.time()
        await state.publish(channel, message)
        return sent_at
    finally:
        await state.aclose()
