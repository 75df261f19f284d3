"""`TieredCache`: the tiers, the purge rules and the statistics of one plugin, in one worker.

Reads go memory first, then the shared tier (whose hits are copied into memory). Purges are
rules kept in the shared store under ``cache:purges`` and announced on the ``cache:purge``
channel, so every worker applies them to its memory at once and to the shared tier as it
reads. Hit and miss counts are counted in memory and added to the shared counters
``cache:stats:NAME`` every `stats_interval`, so the hot path never waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson

from litegate.state import State, StateError

from .config import CacheConfig
from .semantic import SemanticIndex
from .tiers import Entry, MemoryTier, Purges, SharedTier, now

__all__ = ["COUNTERS", "TieredCache"]

log = logging.getLogger("litegate.cache")

COUNTERS = ("hits", "misses", "bypasses", "stores", "semantic_hits")
_RULES, _CHANNEL = "cache:purges", "cache:purge"


class TieredCache:
    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.memory = MemoryTier(
            config.memory_entries, int(config.memory_size), float(config.memory_ttl)
        )
        self.shared: SharedTier | None = None
        self.state: State | None = None
        self.index: SemanticIndex | None = None
        self.purges = Purges()
        self.counts = dict.fromkeys(COUNTERS, 0)
        self._unflushed = dict.fromkeys(COUNTERS, 0)
        self._tasks: list[asyncio.Task[None]] = []
        self._horizon = max(float(config.ttl), float(config.max_ttl))

    # -- lifecycle -----------------------------------------------------------------------

    async def connect(self, state: State | None, index: SemanticIndex | None) -> None:
        self.index = index
        if state is None:
            return
        self.state, self.shared = state, SharedTier(state)
        subscription = state.subscribe(_CHANNEL)
        await subscription.__aenter__()  # subscribed before the rules are read: none missed
        await self._load_rules()
        self._tasks = [
            asyncio.create_task(self._listen(subscription)),
            asyncio.create_task(self._flush_forever()),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.state is not None:
            with contextlib.suppress(StateError):
                await self._flush()
        if self.index is not None:
            self.index.close()

    # -- entries -------------------------------------------------------------------------

    async def get(self, key: str, at: float) -> tuple[Entry, str] | None:
        """The live entry at `key` and the tier it came from ("memory" or "shared")."""
        entry = self.memory.get(key, at)
        tier = "memory"
        if entry is None:
            if self.shared is None:
                return None
            entry = await self.shared.get(key)
            if entry is None:
                return None
            tier = "shared"
            if entry.expires_at > at and not self.purges.covers(entry):
                self.memory.put(entry, at)
        if entry.expires_at <= at or self.purges.covers(entry):
            self.memory.remove(key)
            return None
        return entry, tier

    async def put(self, entry: Entry, ttl: float) -> None:
        self.memory.put(entry, entry.stored_at)
        if self.shared is not None:
            await self.shared.put(entry, ttl)
        self.count("stores")

    # -- purges --------------------------------------------------------------------------

    async def purge(
        self,
        *,
        tenant: str | None = None,
        model: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Drop the entries of `tenant`, of `model`, the one at `key`, or (none given) all."""
        if key is not None:
            if self.shared is not None:
                await self.shared.delete(key)
            message: dict[str, Any] = {"key": key}
        else:
            at = now()
            names = [f"tenant:{tenant}"] if tenant is not None else []
            names += [f"model:{model}"] if model is not None else []
            message = {"rules": {name: at for name in names or ["all"]}}
            if self.state is not None:
                await self._store_rules(message["rules"])
        dropped = self._apply(message)
        if self.index is not None:
            if key is not None:
                self.index.purge(entry=key)
            elif tenant is not None or model is not None:
                self.index.purge(tenant=tenant, model=model)
            else:
                self.index.purge()
        if self.state is not None:
            await self.state.publish(_CHANNEL, orjson.dumps(message))
        return {"purged": message.get("rules") or {"key": key}, "memory_entries_dropped": dropped}

    def _apply(self, message: dict[str, Any]) -> int:
        if self.index is not None:
            self.index.forget()
        key = message.get("key")
        if isinstance(key, str):
            return self.memory.remove(key)
        rules = message.get("rules")
        if isinstance(rules, dict):
            self.purges.merge(rules)
            return self.memory.drop(self.purges.covers)
        return 0

    async def _store_rules(self, rules: dict[str, float]) -> None:
        assert self.state is not None
        while True:
            old = await self.state.get(_RULES)
            merged = Purges()
            merged.merge(orjson.loads(old) if old else {})
            merged.merge(rules)
            merged.expire(now() - self._horizon)
            if await self.state.compare_and_set(_RULES, old, orjson.dumps(merged.rules)):
                return

    async def _load_rules(self) -> None:
        assert self.state is not None
        try:
            stored = await self.state.get(_RULES)
        except StateError as exc:
            log.warning("cache: could not read the purge rules: %s", exc)
            return
        if stored:
            self.purges.merge(orjson.loads(stored))
            self.memory.drop(self.purges.covers)

    async def _listen(self, subscription: Any) -> None:
        assert self.state is not None
        while True:
            try:
                if subscription is None:
                    subscription = self.state.subscribe(_CHANNEL)
                    await subscription.__aenter__()
                    await self._load_rules()
                async with subscription:
                    async for message in subscription:
                        if message is None:  # messages may have been lost: read the rules
                            await self._load_rules()
                            continue
                        try:
                            self._apply(orjson.loads(message))
                        except orjson.JSONDecodeError:
                            log.warning("cache: ignored a malformed purge message")
                return  # the State was closed
            except StateError as exc:
                log.warning("cache: lost the purge channel, subscribing again: %s", exc)
            subscription = None
            await asyncio.sleep(1.0)

    # -- statistics ----------------------------------------------------------------------

    def count(self, name: str) -> None:
        self.counts[name] += 1
        self._unflushed[name] += 1

    async def stats(self) -> dict[str, Any]:
        """Counters of every worker sharing the store (this one's when there is none)."""
        counters: dict[str, int] = dict(self.counts)
        if self.state is not None:
            await self._flush()
            for name in COUNTERS:
                value = await self.state.get(f"cache:stats:{name}")
                counters[name] = int(value) if value else 0
        looked_up = counters["hits"] + counters["misses"]
        return {
            "counters": counters,
            "hit_rate": round(counters["hits"] / looked_up, 4) if looked_up else None,
            "worker": {
                "counters": dict(self.counts),
                "memory_entries": len(self.memory),
                "memory_bytes": self.memory.bytes,
            },
            "shared_tier": self.shared is not None,
            "semantic_vectors": self.index.count() if self.index is not None else None,
            "purge_rules": dict(self.purges.rules),
        }

    async def _flush(self) -> None:
        assert self.state is not None
        pending, self._unflushed = self._unflushed, dict.fromkeys(COUNTERS, 0)
        for name, amount in pending.items():
            if amount:
                await self.state.incr(f"cache:stats:{name}", amount)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(float(self.config.stats_interval))
            try:
                await self._flush()
            except StateError as exc:
                log.warning("cache: could not write the shared statistics: %s", exc)
            self.purges.expire(now() - self._horizon)
