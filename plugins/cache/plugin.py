"""The cache's hooks: `cache_lookup` answers from the tiers (exact key, then the semantic
index); `post_call` and `on_stream_end` store what went upstream; `on_stream_chunk` records
streams as they pass. See docs/caching.md."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from litegate import Call, Gateway, GatewayError, Reply, ReplyStream, StashKey, hookimpl

from . import admin
from .config import CacheConfig
from .keys import prompt_text, request_key, semantic_bucket, tenant_of
from .replay import StreamRecorder, answer, cacheable_body
from .semantic import SemanticIndex, unit_vector
from .store import TieredCache
from .tiers import REPLY, STREAM, Entry, now

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

__all__ = ["CachePlugin"]

log = logging.getLogger("litegate.cache")

HEADER = "x-litegate-cache"
TTL_HEADER = "x-litegate-cache-ttl"


class _Pending:
    """What a call that missed needs to store its answer."""

    __slots__ = ("bucket", "key", "model", "recorder", "tenant", "ttl", "vector")

    def __init__(self, key: str, tenant: str, model: str, ttl: float) -> None:
        self.key = key
        self.tenant = tenant
        self.model = model
        self.ttl = ttl
        self.recorder: StreamRecorder | None = None
        self.bucket: str | None = None
        self.vector: Any = None


_PENDING = StashKey[_Pending]("cache.pending")


class _Gateway:
    """The gateway the plugin runs in, known from `startup` on (for in-process embeddings)."""

    __slots__ = ("gateway",)

    def __init__(self) -> None:
        self.gateway: Gateway | None = None


class CachePlugin:
    """Answers repeated requests from a cache scoped by tenant (see docs/caching.md)."""

    Config = CacheConfig

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.endpoints = frozenset(config.endpoints)
        self.ttl = float(config.ttl)
        self.max_ttl = float(config.max_ttl)
        self.max_entry = int(config.max_entry_size)
        self.cache = TieredCache(config)
        self._gateway = _Gateway()

    # -- lifecycle -----------------------------------------------------------------------

    @hookimpl
    async def startup(self, gateway: Gateway) -> None:
        self._gateway.gateway = gateway
        semantic = self.config.semantic
        if semantic is not None and semantic.model not in gateway.deployments:
            raise ValueError(
                f"semantic.model {semantic.model!r} is not one of this gateway's [[models]]"
            )
        index = (
            SemanticIndex(semantic.path, semantic.max_per_bucket) if semantic is not None else None
        )
        state = await gateway.open_state() if self.config.shared else None
        await self.cache.connect(state, index)

    @hookimpl
    async def shutdown(self) -> None:
        await self.cache.aclose()

    @hookimpl
    def routes(self, gateway: Gateway) -> Sequence[BaseRoute]:
        return admin.routes(gateway, self.cache)

    # -- request side --------------------------------------------------------------------

    @hookimpl
    async def cache_lookup(self, call: Call) -> Reply | ReplyStream | None:
        if call.endpoint not in self.endpoints:
            call.response_headers[HEADER] = "bypass"
            return None
        no_cache, no_store, ttl = self._control(call.headers)
        tenant = tenant_of(call.principal, self.config.scope)
        key = request_key(tenant, call.endpoint, call.stream, call.request)
        pending = _Pending(key, tenant, call.alias, ttl)
        at = now()
        if no_cache:
            call.response_headers[HEADER] = "bypass"
            self.cache.count("bypasses")
        else:
            found = await self.cache.get(key, at)
            # The key hashes the tenant; comparing it too costs nothing and trusts no hash.
            if found is not None and found[0].tenant == tenant and self._fits(call, found[0]):
                return self._hit(call, *found)
        semantic = self.config.semantic
        if semantic is not None and call.endpoint != "embeddings" and not (no_cache and no_store):
            hit = await self._semantic(call, pending, tenant, at, look=not no_cache)
            if hit is not None:
                return hit
        if not no_cache:
            call.response_headers[HEADER] = "miss"
            call.response_headers[HEADER + "-key"] = key
            self.cache.count("misses")
        if not no_store:
            if call.stream:
                pending.recorder = StreamRecorder()
            call.stash[_PENDING] = pending
        return None

    def _control(self, headers: Any) -> tuple[bool, bool, float]:
        """``(no_cache, no_store, ttl)`` from ``Cache-Control`` and ``x-litegate-cache-ttl``."""
        no_cache = no_store = False
        control = headers.get("cache-control")
        if control:
            directives = {part.strip().lower() for part in control.split(",")}
            no_cache = "no-cache" in directives
            no_store = "no-store" in directives
        ttl = self.ttl
        asked = headers.get(TTL_HEADER)
        if asked is not None:
            try:
                ttl = float(asked)
            except ValueError:
                ttl = -1.0
            if not ttl >= 0:
                raise GatewayError(
                    400,
                    f"The {TTL_HEADER} header must be a number of seconds, got {asked[:40]!r}.",
                    code="invalid_cache_ttl",
                    param=TTL_HEADER,
                )
            if ttl == 0:
                no_store = True
            ttl = min(ttl, self.max_ttl)
        return no_cache, no_store, ttl

    @staticmethod
    def _fits(call: Call, entry: Entry) -> bool:
        """A stream recorded without its usage chunk can't serve a client that wants one."""
        if entry.has_usage or not call.stream:
            return True
        options = call.request.get("stream_options")
        return not (isinstance(options, dict) and options.get("include_usage") is True)

    def _hit(self, call: Call, entry: Entry, tier: str) -> Reply | ReplyStream:
        headers = call.response_headers
        headers[HEADER] = "hit"
        headers[HEADER + "-key"] = entry.key
        headers[HEADER + "-tier"] = tier
        headers["age"] = str(max(0, int(now() - entry.stored_at)))
        self.cache.count("hits")
        return answer(entry)

    async def _semantic(
        self, call: Call, pending: _Pending, tenant: str, at: float, look: bool
    ) -> Reply | ReplyStream | None:
        text = prompt_text(call.endpoint, call.request)
        if text is None:
            return None
        vector = await self._embed(text)
        if vector is None:
            return None
        pending.vector = vector
        pending.bucket = semantic_bucket(tenant, call.endpoint, call.stream, call.request)
        if not look or self.cache.index is None:
            return None
        try:
            match = self.cache.index.search(pending.bucket, vector, at)
        except sqlite3.Error as exc:
            log.warning("cache: could not search the semantic index: %s", exc)
            return None
        assert self.config.semantic is not None
        if match is None or match[1] < self.config.semantic.threshold:
            return None
        found = await self.cache.get(match[0], at)
        if found is None or not self._fits(call, found[0]) or found[0].tenant != tenant:
            return None
        self.cache.count("semantic_hits")
        reply = self._hit(call, *found)
        call.response_headers[HEADER + "-similarity"] = f"{match[1]:.4f}"
        return reply

    async def _embed(self, text: str) -> Any:
        gateway, semantic = self._gateway.gateway, self.config.semantic
        if gateway is None or semantic is None:
            return None
        try:
            result = await gateway.embeddings(model=semantic.model, input=text)
            return unit_vector(result["data"][0]["embedding"])
        except (GatewayError, KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("cache: could not embed the prompt for the semantic cache: %s", exc)
            return None

    # -- response side -------------------------------------------------------------------

    @hookimpl
    async def post_call(self, call: Call, response: dict[str, Any]) -> None:
        pending = call.stash.get(_PENDING)
        if pending is None or pending.recorder is not None:
            return
        if not cacheable_body(call.endpoint, response):
            return
        body = orjson.dumps(response)
        if len(body) <= self.max_entry:
            await self._store(pending, REPLY, body, has_usage=True)

    @hookimpl
    def on_stream_chunk(self, call: Call, chunk: dict[str, Any]) -> dict[str, Any]:
        pending = call.stash.get(_PENDING)
        if pending is not None and pending.recorder is not None:
            pending.recorder.add(chunk, self.max_entry)
        return chunk

    @hookimpl
    async def on_stream_end(self, call: Call, tail: list[dict[str, Any]]) -> None:
        pending = call.stash.get(_PENDING)
        if pending is None or pending.recorder is None:
            return
        recorder = pending.recorder
        recorder.add_tail(tail, self.max_entry)
        if recorder.complete:
            await self._store(pending, STREAM, recorder.body(), has_usage=recorder.has_usage)

    async def _store(self, pending: _Pending, kind: str, body: bytes, has_usage: bool) -> None:
        at = now()
        entry = Entry(
            pending.key,
            kind,
            body,
            tenant=pending.tenant,
            model=pending.model,
            stored_at=at,
            expires_at=at + pending.ttl,
            has_usage=has_usage,
        )
        await self.cache.put(entry, pending.ttl)
        index = self.cache.index
        if index is not None and pending.vector is not None and pending.bucket is not None:
            try:
                index.add(
                    pending.bucket,
                    pending.key,
                    pending.vector,
                    tenant=pending.tenant,
                    model=pending.model,
                    stored_at=at,
                    expires_at=entry.expires_at,
                )
            except sqlite3.Error as exc:
                log.warning("cache: could not add to the semantic index: %s", exc)
