"""`RedisState`: Redis shared by every gateway instance. Each read-modify-write is one Lua
script (registered once, run with EVALSHA), so it is atomic on the server; windows and
slots use the server's clock, so hosts with skewed clocks still share one limit. Pub/sub is
Redis pub/sub; a reconnect is reported to subscribers as a possible gap (a None).

Needs the ``redis`` extra: ``pip install 'litegate[redis]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rex

from ._base import EPSILON, State, StateError, StateUnavailable, Subscription, redact

__all__ = ["RedisState"]

# ARGV[n] == "" stands for "none" throughout. TTLs arrive in milliseconds.
_TTL = """
local function ttl(key, ms)
  if ms ~= '' and redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, ms) end
end
"""

INCR = (
    _TTL
    + """
local total = redis.call(ARGV[3] == 'f' and 'INCRBYFLOAT' or 'INCRBY', KEYS[1], ARGV[1])
ttl(KEYS[1], ARGV[2])
return total
"""
)

RESERVE = (
    _TTL
    + f"""
local current = redis.call('GET', KEYS[1]) or '0'
local limit = tonumber(ARGV[2])
local total = tonumber(current) + tonumber(ARGV[1])
if total > limit + {EPSILON!r} * math.max(1, math.abs(limit)) then return {{0, current}} end
total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
ttl(KEYS[1], ARGV[3])
return {{1, total}}
"""
)

CAS = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1
"""

# `gcra` in _base.py, in Lua. ARGV: limit, window, cost, now, force ('1').
WINDOW = f"""
local now = tonumber(ARGV[4])
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local interval = window / tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
local base = now
if tat and tat > now then base = tat end
local new_tat = base + cost * interval
local allowed = new_tat - now <= window + {EPSILON!r}
if (not allowed and ARGV[5] ~= '1') or cost == 0 then
  return {{allowed and 1 or 0, string.format('%.17g', base - now)}}
end
if new_tat > now then
  redis.call('SET', KEYS[1], string.format('%.17g', new_tat),
             'PX', math.ceil((new_tat - now) * 1000))
else
  redis.call('DEL', KEYS[1])
  new_tat = now
end
return {{allowed and 1 or 0, string.format('%.17g', new_tat - now)}}
"""

# `gcra_all` in _base.py, in Lua: several windows, all or nothing. ARGV: now, then limit,
# window, cost for each key.
WINDOWS = f"""
local now = tonumber(ARGV[1])
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local answers, tats, all_allowed = {{}}, {{}}, true
for i = 1, #KEYS do
  local window = tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local interval = window / tonumber(ARGV[3 * i - 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '')
  local base = now
  if tat and tat > now then base = tat end
  local new_tat = base + cost * interval
  local allowed = new_tat - now <= window + {EPSILON!r}
  local level = base - now
  if allowed and cost ~= 0 then
    level = new_tat - now
    tats[i] = new_tat
  else
    all_allowed = all_allowed and allowed
  end
  answers[i] = {{allowed and 1 or 0, string.format('%.17g', level)}}
end
if all_allowed then
  for i, new_tat in pairs(tats) do
    redis.call('SET', KEYS[i], string.format('%.17g', new_tat),
               'PX', math.ceil((new_tat - now) * 1000))
  end
end
return answers
"""
# A sorted set of tokens scored by their lease's end (server clock, ms). ARGV: limit,
# lease ms, token.
SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else str(max(1, round(seconds * 1000)))


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    try:
        yield
    except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
        raise StateUnavailable(f"Redis: {exc}") from None
    except rex.ResponseError as exc:
        raise StateError(f"Redis: {exc}") from None


class RedisState(State):
    def __init__(self, client: aioredis.Redis, prefix: str = "litegate:") -> None:
        """Takes ownership of `client` (closed by `aclose`); `connect` builds one from a URL."""
        super().__init__(prefix)
        self.client = client
        self._incr_script = client.register_script(INCR)
        self._reserve_script = client.register_script(RESERVE)
        self._cas_script = client.register_script(CAS)
        self._window_script = client.register_script(WINDOW)
        self._windows_script = client.register_script(WINDOWS)
        self._slot_script = client.register_script(SLOT)

    @classmethod
    async def connect(cls, url: str, prefix: str = "litegate:") -> RedisState:
        """Connect to `url` and check the server answers; `StateUnavailable` if not."""
        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        try:
            await client.ping()
        except (rex.RedisError, OSError) as exc:
            await client.aclose()
            raise StateUnavailable(f"Redis at {redact(url)} did not answer: {exc}") from None
        return cls(client, prefix)

    async def _get(self, key: str) -> bytes | None:
        with _guard():
            value: Any = await self.client.get(key)  # bytes: the client does not decode
            return value

    async def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        with _guard():
            await self.client.set(key, value, px=None if ttl is None else int(_ms(ttl)))

    async def _delete(self, key: str) -> None:
        with _guard():
            await self.client.delete(key)

    async def _compare_and_set(
        self, key: str, expected: bytes | None, value: bytes | None, ttl: float | None
    ) -> bool:
        args = ["0" if expected is None else "1", expected or b""]
        args += ["0" if value is None else "1", value or b"", _ms(ttl)]
        with _guard():
            return bool(await self._cas_script(keys=[key], args=args))

    async def _incr(self, key: str, amount: int, ttl: float | None) -> int:
        with _guard():
            if ttl is None:
                return int(await self.client.incrby(key, amount))
            return int(await self._incr_script(keys=[key], args=[amount, _ms(ttl), "i"]))

    async def _incr_float(self, key: str, amount: float, ttl: float | None) -> float:
        with _guard():
            if ttl is None:
                return float(await self.client.incrbyfloat(key, amount))
            return float(await self._incr_script(keys=[key], args=[repr(amount), _ms(ttl), "f"]))

    async def _reserve(
        self, key: str, amount: float, limit: float, ttl: float | None
    ) -> tuple[bool, float]:
        with _guard():
            ok, total = await self._reserve_script(
                keys=[key], args=[repr(amount), repr(limit), _ms(ttl)]
            )
        return bool(ok), float(total)

    async def _window(
        self, key: str, limit: int, window: float, cost: float, now: float | None, force: bool
    ) -> tuple[bool, float]:
        args: list[str | int] = [limit, repr(float(window)), repr(float(cost))]
        args.append("" if now is None else repr(float(now)))
        with _guard():
            allowed, level = await self._window_script(
                keys=[key], args=[*args, "1" if force else "0"]
            )
        return bool(allowed), float(level)

    async def _windows(
        self, items: Sequence[tuple[str, int, float, float]], now: float | None
    ) -> list[tuple[bool, float]]:
        args: list[str | int] = ["" if now is None else repr(float(now))]
        for _, limit, window, cost in items:
            args += [limit, repr(float(window)), repr(float(cost))]
        with _guard():
            answers = await self._windows_script(keys=[item[0] for item in items], args=args)
        return [(bool(allowed), float(level)) for allowed, level in answers]

    async def _slot_acquire(self, key: str, limit: int, lease: float, token: str) -> bool:
        with _guard():
            return bool(await self._slot_script(keys=[key], args=[limit, _ms(lease), token]))

    async def _slot_release(self, key: str, token: str) -> None:
        with _guard():
            await self.client.zrem(key, token)

    async def _publish(self, channel: str, message: bytes) -> None:
        with _guard():
            await self.client.publish(channel, message)

    def _subscription(self, channel: str) -> Subscription:
        return _RedisSubscription(self.client, channel)

    async def _aclose(self) -> None:
        await self.client.aclose()


class _RedisSubscription(Subscription):
    #: How often a waiting subscriber checks whether it was closed.
    poll = 0.25

    def __init__(self, client: aioredis.Redis, channel: str) -> None:
        self._pubsub: Any = client.pubsub()
        self._channel = channel
        self._closed = False
        # Set while no `__anext__` is reading: closing the connection under a read makes
        # the client reconnect and leak the new connection.
        self._idle = asyncio.Event()
        self._idle.set()

    async def _start(self) -> None:
        with _guard():
            await self._pubsub.subscribe(self._channel)
            # Messages published after the server confirms reach us, not before.
            while True:
                reply = await self._pubsub.get_message(timeout=5)
                if reply is None:
                    raise StateUnavailable(f"Redis did not confirm SUBSCRIBE {self._channel}")
                if reply["type"] == "subscribe":
                    return

    async def __anext__(self) -> bytes | None:
        self._idle.clear()
        try:
            return await self._next()
        finally:
            self._idle.set()

    async def _next(self) -> bytes | None:
        backoff = 0.05
        while not self._closed:
            try:
                reply = await self._pubsub.get_message(timeout=self.poll)
            except (rex.ConnectionError, rex.TimeoutError, OSError):
                # The next read reconnects and subscribes again; its confirmation says
                # messages may have been lost in between.
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)
                continue
            if reply is None:
                continue
            if reply["type"] == "message":
                data: bytes = reply["data"]
                return data
            if reply["type"] == "subscribe":
                return None
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._idle.wait()  # a reader notices within `poll`
            await self._pubsub.aclose()
