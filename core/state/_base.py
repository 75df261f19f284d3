"""The `State` interface every backend implements, and the arithmetic the backends share.

Public methods live here: they check their arguments, apply the key prefix and turn the
backends' raw answers into results, so a backend implements only the small `_`-methods and
every backend reports the same way. The rate-limit algorithm is GCRA (the generic cell rate
algorithm): one stored number per key, the "theoretical arrival time" (TAT), which makes a
sliding window that admits `limit` units per `window` seconds, in bursts of up to `limit`.
"""

from __future__ import annotations

import abc
import asyncio
import math
import secrets
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import attrs

__all__ = ["State", "StateError", "StateUnavailable", "Subscription", "Window"]

#: Slack for float rounding in limit checks: three calls of 1/3 s must fit in one second.
EPSILON = 1e-6


class StateError(Exception):
    """A state operation failed: the key holds another kind of value, or the backend refused."""


class StateUnavailable(StateError):
    """The backend could not be reached in time (Redis down, the disk store locked too long).
    Rate limits and budgets decide whether that fails open or closed."""


@attrs.frozen
class Window:
    """The answer of `State.window_acquire` / `State.window_adjust`."""

    #: Whether the cost was taken (for `window_adjust`: whether the key is within its limit).
    allowed: bool
    #: Units that could still be taken now (for ``X-RateLimit-Remaining``).
    remaining: int
    #: Seconds until this cost would be allowed; 0 when it was (for ``Retry-After``).
    retry_after: float
    #: Seconds until the whole limit is available again (for ``X-RateLimit-Reset``).
    reset_after: float


def gcra(
    tat: float | None, now: float, limit: int, window: float, cost: float, force: bool
) -> tuple[float | None, bool, float]:
    """One GCRA step: ``(new_tat, allowed, level)``.

    `new_tat` is what to store (None: leave the key alone; ``<= now``: delete it), `level` is
    how far ahead of `now` the key's TAT is after the step (before it, when refused). The
    Redis script in `_redis.py` is this function in Lua; keep the two in step.
    """
    interval = window / limit
    base = now if tat is None or tat < now else tat
    new_tat = base + cost * interval
    allowed = new_tat - now <= window + EPSILON
    if (not allowed and not force) or cost == 0:
        return None, allowed, base - now
    new_tat = max(new_tat, now)
    return new_tat, allowed, new_tat - now


def gcra_all(
    items: Sequence[tuple[str, int, float, float]],
    now: float,
    read: Callable[[str], float | None],
    write: Callable[[str, float | None], None],
) -> list[tuple[bool, float]]:
    """`gcra` over several windows, all or nothing: each ``(key, limit, window, cost)``
    is stored (through `write`, None meaning delete) only when every one was allowed.
    The memory and disk backends run this inside one atomic step; ``WINDOWS`` in
    `_redis.py` is it in Lua."""
    results, updates = [], []
    for key, limit, window, cost in items:
        new_tat, allowed, level = gcra(read(key), now, limit, window, cost, False)
        results.append((allowed, level))
        updates.append((key, new_tat))
    if all(allowed for allowed, _ in results):
        for key, new_tat in updates:
            if new_tat is not None:
                write(key, new_tat if new_tat > now else None)
    return results


def window_result(
    allowed: bool, level: float, limit: int, window: float, cost: float, force: bool
) -> Window:
    interval = window / limit
    remaining = min(limit, max(0, math.floor((window - level) / interval + EPSILON)))
    if allowed:
        retry_after = 0.0
    elif force:
        retry_after = level - window
    else:
        retry_after = level + cost * interval - window
    return Window(allowed, remaining, max(0.0, retry_after), max(0.0, level))


def number_text(value: int | float) -> bytes:
    """A counter as `get` returns it: decimal text, as Redis stores it."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value)).encode()
    return str(value).encode()


def as_int(value: Any, key: str) -> int:
    """A stored counter as an int; like Redis, a value of decimal text counts too."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bytes) and value.lstrip(b"-").isdigit():
        return int(value)
    raise StateError(f"{key!r} does not hold an integer counter")


def as_float(value: Any, key: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bytes):
        try:
            return float(value)
        except ValueError:
            pass
    raise StateError(f"{key!r} does not hold a counter")


def redact(url: str) -> str:
    """`url` without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}" if user else f"{scheme}{sep}***@{host}"


def _check_ttl(ttl: float | None) -> None:
    if ttl is not None and not ttl > 0:
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")


def _check_rate(limit: int, seconds: float, name: str = "window") -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    if not seconds > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {seconds!r}")


class Subscription(abc.ABC):
    """The messages published to one channel after entering, in order; see `State.subscribe`.

    Iterating yields each message's bytes, or None where messages may have been lost (a
    reconnect, a subscriber that fell too far behind): a subscriber that caches should then
    drop its whole cache. Iteration ends when the subscription or its State is closed.
    """

    async def __aenter__(self) -> Subscription:
        await self._start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Subscription:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> bytes | None: ...

    @abc.abstractmethod
    async def _start(self) -> None:
        """Subscribe; messages published once this returns are delivered."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Unsubscribe; a pending or later `__anext__` ends the iteration."""


class State(abc.ABC):
    """Shared counters, limits, values and messages, under one key prefix.

    Keys and channels are plain strings; the backend prepends `prefix`, so gateways with
    different prefixes can share one Redis or one directory. A key holds one kind of thing
    (a value, a counter, a window, a slot set); using it as another raises `StateError`.
    Every method is atomic on its key: across workers of a host for `DiskState`, across
    hosts for `RedisState`. `ttl` and `window` are seconds (floats welcome). Key names
    appear in errors and in the store: hash anything secret (API keys) before using it.
    """

    #: True when every operation runs to its end without suspending (the memory and disk
    #: backends; the disk one bounds its own lock waits): a caller's ``asyncio.timeout``
    #: around them could never fire, so callers on a hot path may skip it.
    inline: bool = False

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._closed = False

    # -- values --------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """The value at `key`, or None. A counter reads as its decimal text (``b"42"``)."""
        return await self._get(self.prefix + key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store `value` at `key`, expiring after `ttl` seconds (never, when None)."""
        _check_ttl(ttl)
        await self._set(self.prefix + key, bytes(value), ttl)

    async def delete(self, key: str) -> None:
        """Remove `key`, whatever it holds; no error when it is absent."""
        await self._delete(self.prefix + key)

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes | None, ttl: float | None = None
    ) -> bool:
        """Store `value` (None: delete) only if `key` holds `expected` (None: is absent).

        The one read-modify-write primitive: read with `get`, compute, and retry when this
        answers False because another worker changed the key first.
        """
        _check_ttl(ttl)
        return await self._compare_and_set(self.prefix + key, expected, value, ttl)

    # -- counters ------------------------------------------------------------------------

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add `amount` (may be negative) to an integer counter starting at 0; the new total.
        `ttl` is set when the key is created (or has no expiry), not pushed back by later
        increments, so ``incr(k, 1, ttl=60)`` counts in fixed windows."""
        _check_ttl(ttl)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"amount must be an int, got {amount!r}")
        return await self._incr(self.prefix + key, amount, ttl)

    async def incr_float(self, key: str, amount: float, ttl: float | None = None) -> float:
        """`incr` for amounts like money: a float counter; the new total."""
        _check_ttl(ttl)
        return await self._incr_float(self.prefix + key, float(amount), ttl)

    async def reserve(
        self, key: str, amount: float, limit: float, ttl: float | None = None
    ) -> tuple[bool, float]:
        """Add `amount` to a float counter only if the total stays within `limit`:
        ``(True, new_total)`` or ``(False, current_total)``. Budgets reserve an estimate
        this way and settle the difference later with `incr_float` (negative to refund).
        `ttl` as for `incr`."""
        _check_ttl(ttl)
        return await self._reserve(self.prefix + key, float(amount), float(limit), ttl)

    # -- rate limits ---------------------------------------------------------------------

    async def window_acquire(
        self, key: str, limit: int, window: float, cost: int = 1, now: float | None = None
    ) -> Window:
        """Take `cost` units from a sliding window of `limit` units per `window` seconds, if
        they are all there (GCRA: capacity refills continuously). ``cost=0`` only looks.
        A cost above `limit` is never allowed. `now` (Unix seconds) is for tests and
        replays; by default the backend's clock (Redis: the server's, shared by all hosts)."""
        _check_rate(limit, window)
        if cost < 0:
            raise ValueError(f"cost must not be negative, got {cost!r} (use window_adjust)")
        allowed, level = await self._window(self.prefix + key, limit, window, cost, now, False)
        return window_result(allowed, level, limit, window, cost, False)

    async def windows_acquire(
        self, requests: Sequence[tuple[str, int, float, int]], now: float | None = None
    ) -> list[Window]:
        """`window_acquire` for several windows in one atomic step, all or nothing: each
        ``(key, limit, window, cost)`` is taken only if every one of them has room. One
        transaction (disk) or one script (Redis) instead of one per window, and no window
        is ever taken and given back. The answers come in order; each one's `allowed` says
        whether that window had room (when any had not, none was taken, and the others'
        `remaining` is what they would have had). Keys must be distinct."""
        items = []
        for key, limit, window, cost in requests:
            _check_rate(limit, window)
            if cost < 0:
                raise ValueError(f"cost must not be negative, got {cost!r} (use window_adjust)")
            items.append((self.prefix + key, limit, window, float(cost)))
        if len({item[0] for item in items}) != len(items):
            raise ValueError("windows_acquire: each key may appear once")
        results = await self._windows(items, now) if items else []
        return [
            window_result(allowed, level, limit, window, cost, False)
            for (allowed, level), (_, limit, window, cost) in zip(results, items, strict=True)
        ]

    async def window_adjust(
        self, key: str, limit: int, window: float, delta: int, now: float | None = None
    ) -> Window:
        """Settle a window after the fact, unconditionally: a positive `delta` charges more
        (possibly past the limit, which then refuses until it has refilled), a negative
        one gives back. Tokens-per-minute: acquire the estimate, adjust by actual - estimate.
        `allowed` in the answer says whether the key is within its limit afterwards."""
        _check_rate(limit, window)
        allowed, level = await self._window(self.prefix + key, limit, window, delta, now, True)
        return window_result(allowed, level, limit, window, delta, True)

    async def slot_acquire(self, key: str, limit: int, lease: float) -> str | None:
        """Take one of `limit` concurrency slots for at most `lease` seconds: a token for
        `slot_release`, or None when all are taken. A holder that dies without releasing
        loses its slot when the lease runs out, so make `lease` the longest a call may take."""
        _check_rate(limit, lease, "lease")
        token = secrets.token_hex(8)
        taken = await self._slot_acquire(self.prefix + key, limit, lease, token)
        return token if taken else None

    async def slot_release(self, key: str, token: str) -> None:
        """Give back the slot `token` holds; no error if its lease already ran out."""
        await self._slot_release(self.prefix + key, token)

    # -- messages ------------------------------------------------------------------------

    async def publish(self, channel: str, message: bytes) -> None:
        """Send `message` to every current subscriber of `channel`, on every worker sharing
        this backend. At most once: a subscriber that misses messages is told (a None)."""
        await self._publish(self.prefix + channel, bytes(message))

    def subscribe(self, channel: str) -> Subscription:
        """``async with state.subscribe("keys") as messages: async for m in messages: ...``;
        see `Subscription`. Delivery takes well under a second on every backend."""
        if self._closed:
            raise StateError("this State is closed")
        subscription = self._subscription(self.prefix + channel)
        self._subscriptions.add(subscription)
        return subscription

    # -- lifecycle -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close connections and end open subscriptions. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(s.aclose() for s in list(self._subscriptions)))
        await self._aclose()

    async def __aenter__(self) -> State:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    # -- what a backend implements (keys arrive prefixed) ---------------------------------

    @abc.abstractmethod
    async def _get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def _set(self, key: str, value: bytes, ttl: float | None) -> None: ...

    @abc.abstractmethod
    async def _delete(self, key: str) -> None: ...

    @abc.abstractmethod
    async def _compare_and_set(
        self, key: str, expected: bytes | None, value: bytes | None, ttl: float | None
    ) -> bool: ...

    @abc.abstractmethod
    async def _incr(self, key: str, amount: int, ttl: float | None) -> int: ...

    @abc.abstractmethod
    async def _incr_float(self, key: str, amount: float, ttl: float | None) -> float: ...

    @abc.abstractmethod
    async def _reserve(
        self, key: str, amount: float, limit: float, ttl: float | None
    ) -> tuple[bool, float]: ...

    @abc.abstractmethod
    async def _window(
        self, key: str, limit: int, window: float, cost: float, now: float | None, force: bool
    ) -> tuple[bool, float]:
        """Apply `gcra` atomically; return its ``(allowed, level)``."""

    @abc.abstractmethod
    async def _windows(
        self, items: Sequence[tuple[str, int, float, float]], now: float | None
    ) -> list[tuple[bool, float]]:
        """Apply `gcra_all` atomically; return its answers."""

    @abc.abstractmethod
    async def _slot_acquire(self, key: str, limit: int, lease: float, token: str) -> bool: ...

    @abc.abstractmethod
    async def _slot_release(self, key: str, token: str) -> None: ...

    @abc.abstractmethod
    async def _publish(self, channel: str, message: bytes) -> None: ...

    @abc.abstractmethod
    def _subscription(self, channel: str) -> Subscription: ...

    @abc.abstractmethod
    async def _aclose(self) -> None: ...


def over_limit(total: float, limit: float) -> bool:
    """`reserve`'s check, with slack for float rounding (0.1 + 0.2 fits in 0.3)."""
    return total > limit + EPSILON * max(1.0, abs(limit))
