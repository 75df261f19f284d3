"""Where answers are kept: each worker's memory (an LRU), then the `[state] kv` store
(diskcache shared by a host's workers, or Redis shared by every host).

An `Entry` holds the answer's bytes exactly as they will be sent again -- a JSON body, or a
stream's chunks one per line -- plus who it belongs to, so a hit costs no re-encoding and a
purge by tenant or model can tell which entries it covers.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable

import orjson

from litegate.state import State, StateError

__all__ = ["Entry", "MemoryTier", "Purges", "SharedTier"]

log = logging.getLogger("litegate.cache")

#: Kinds of entries: a whole JSON body, or a stream's chunks (one JSON object per line).
REPLY, STREAM = "reply", "stream"


class Entry:
    __slots__ = ("body", "expires_at", "has_usage", "key", "kind", "model", "stored_at", "tenant")

    def __init__(
        self,
        key: str,
        kind: str,
        body: bytes,
        *,
        tenant: str,
        model: str,
        stored_at: float,
        expires_at: float,
        has_usage: bool = True,
    ) -> None:
        self.key = key
        self.kind = kind
        self.body = body
        self.tenant = tenant
        self.model = model
        self.stored_at = stored_at
        self.expires_at = expires_at
        #: Streams: whether the chunks include the usage chunk.
        self.has_usage = has_usage

    def encode(self) -> bytes:
        meta = [self.kind, self.tenant, self.model, self.stored_at, self.expires_at, self.has_usage]
        return orjson.dumps(meta) + b"\n" + self.body  # orjson never writes a raw newline

    @classmethod
    def decode(cls, key: str, data: bytes) -> Entry | None:
        head, sep, body = data.partition(b"\n")
        try:
            kind, tenant, model, stored_at, expires_at, has_usage = orjson.loads(head)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            return None
        if not sep:
            return None
        return cls(
            key,
            kind,
            body,
            tenant=tenant,
            model=model,
            stored_at=stored_at,
            expires_at=expires_at,
            has_usage=has_usage,
        )


class MemoryTier:
    """A least-recently-used map of entries, bounded in count and bytes; per worker."""

    def __init__(self, max_entries: int, max_bytes: int, ttl: float) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.bytes = 0
        # key -> (entry, leaves memory at)
        self._entries: collections.OrderedDict[str, tuple[Entry, float]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float) -> Entry | None:
        found = self._entries.get(key)
        if found is None:
            return None
        entry, until = found
        if now >= until:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, entry: Entry, now: float) -> None:
        size = len(entry.body)
        if self.max_entries == 0 or size > self.max_bytes:
            return
        self._remove(entry.key)
        self._entries[entry.key] = (entry, min(entry.expires_at, now + self.ttl))
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)

    def remove(self, key: str) -> int:
        """Remove the entry at `key`; 1 if there was one, else 0."""
        found = key in self._entries
        self._remove(key)
        return int(found)

    def drop(self, covered: Callable[[Entry], bool]) -> int:
        """Remove every entry `covered` says yes to; how many."""
        gone = [key for key, (entry, _) in self._entries.items() if covered(entry)]
        for key in gone:
            self._remove(key)
        return len(gone)

    def _remove(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self.bytes -= len(found[0].body)


class SharedTier:
    """Entries in a `State` under ``cache:e:KEY``, expiring by the store's TTL. A store that
    fails is a miss, never an error for the caller; after a failure the tier turns itself
    off for `pause` seconds, saying so once (a full disk or a Redis outage would otherwise
    cost every request a timeout and the log a line each), then tries again."""

    def __init__(
        self, state: State, pause: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.state = state
        self.pause = pause
        self.clock = clock
        #: `clock()` until which the tier is off (0: on).
        self.off_until = 0.0

    @property
    def available(self) -> bool:
        if not self.off_until:
            return True
        if self.clock() < self.off_until:
            return False
        self.off_until = 0.0
        log.warning("cache: trying the shared tier again")
        return True

    def _failed(self, action: str, exc: StateError) -> None:
        self.off_until = self.clock() + self.pause
        log.warning(
            "cache: could not %s the shared tier (%s); it is off for %gs, answers are "
            "served from upstream and this worker's memory meanwhile",
            action,
            exc,
            self.pause,
        )

    async def get(self, key: str) -> Entry | None:
        if not self.available:
            return None
        try:
            data = await self.state.get(f"cache:e:{key}")
        except StateError as exc:
            self._failed("read", exc)
            return None
        return None if data is None else Entry.decode(key, data)

    async def put(self, entry: Entry, ttl: float) -> None:
        if not self.available:
            return
        try:
            await self.state.set(f"cache:e:{entry.key}", entry.encode(), ttl=ttl)
        except StateError as exc:
            self._failed("write", exc)

    async def delete(self, key: str) -> None:
        await self.state.delete(f"cache:e:{key}")


class Purges:
    """Purges as rules "entries of X stored before T are gone": ``all``, ``tenant:NAME`` or
    ``model:ALIAS`` -> Unix time. Checking them costs a few dict look-ups per hit, and no
    store has to be scanned: a covered entry is dropped when it is next found, or expires."""

    def __init__(self) -> None:
        self.rules: dict[str, float] = {}

    def covers(self, entry: Entry) -> bool:
        rules = self.rules
        if not rules:
            return False
        stored = entry.stored_at
        return (
            stored <= rules.get("all", 0.0)
            or stored <= rules.get("tenant:" + entry.tenant, 0.0)
            or stored <= rules.get("model:" + entry.model, 0.0)
        )

    def merge(self, rules: dict[str, float]) -> None:
        for name, at in rules.items():
            if at > self.rules.get(name, 0.0):
                self.rules[name] = at

    def expire(self, horizon: float) -> None:
        """Forget rules older than every entry they could cover."""
        for name in [n for n, at in self.rules.items() if at < horizon]:
            del self.rules[name]


def now() -> float:
    return time.time()
