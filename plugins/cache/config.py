"""The cache's `[[pipeline]]` options."""

from __future__ import annotations

from typing import Any

import attrs

from litegate.config_types import ByteSize, Duration

__all__ = ["CACHEABLE", "CacheConfig", "SemanticConfig"]

#: Endpoints whose answers can be cached: JSON requests with JSON (or streamed) answers.
CACHEABLE = ("chat", "completions", "embeddings")


def _check_scope(_instance: Any, _attr: Any, value: str) -> None:
    if value not in ("tenant", "global"):
        raise ValueError(f'expected "tenant" or "global", got {value!r}')


def _check_endpoints(_instance: Any, _attr: Any, value: list[str]) -> None:
    for endpoint in value:
        if endpoint not in CACHEABLE:
            raise ValueError(f"expected endpoints among {', '.join(CACHEABLE)}, got {endpoint!r}")


def _check_positive(_instance: Any, attr: Any, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attr.name} must be more than 0, got {value!r}")


@attrs.frozen
class SemanticConfig:
    #: The embedding model alias (one of this gateway's `[[models]]`) that embeds prompts;
    #: the gateway calls it in-process, through its own chain.
    model: str
    #: Cosine similarity (-1..1) from which a cached answer to a similar prompt is served.
    threshold: float = attrs.field(
        default=0.95,
        validator=attrs.validators.and_(attrs.validators.ge(-1.0), attrs.validators.le(1.0)),
    )
    #: The SQLite file of the vector index, shared by the workers of one host (a relative
    #: path is resolved against the working directory).
    path: str = ".litegate/semantic.db"
    #: Vectors kept per bucket (one tenant, model and set of parameters); the oldest go first.
    max_per_bucket: int = attrs.field(default=1000, validator=attrs.validators.ge(1))


@attrs.frozen
class CacheConfig:
    #: Who shares cached answers: "tenant" (the caller's team, or its key when it has no
    #: team) or "global" (every caller: only for answers that are the same for everyone).
    scope: str = attrs.field(default="tenant", validator=_check_scope)
    #: The endpoints to cache: any of "chat", "completions", "embeddings".
    endpoints: list[str] = attrs.field(factory=lambda: list(CACHEABLE), validator=_check_endpoints)
    #: How long an answer stays cached; a request's `x-litegate-cache-ttl` header (seconds)
    #: may ask for another time, up to `max_ttl`.
    ttl: Duration = attrs.field(default=Duration(3600), validator=_check_positive)
    #: The longest time `x-litegate-cache-ttl` may ask for.
    max_ttl: Duration = attrs.field(default=Duration(86400), validator=_check_positive)
    #: Answers kept in each worker's memory (least recently used go first).
    memory_entries: int = attrs.field(default=1024, validator=attrs.validators.ge(0))
    #: Bytes of answers kept in each worker's memory.
    memory_size: ByteSize = ByteSize(64 * 1024**2)
    #: The longest an answer stays in a worker's memory (never past its own TTL).
    memory_ttl: Duration = attrs.field(default=Duration(300), validator=_check_positive)
    #: Also keep answers in the `[state] kv` store: shared by the workers of a host
    #: (`disk:`, whose size limit evicts the oldest) or by every host (`redis://`).
    shared: bool = True
    #: Answers larger than this (bytes) are not cached.
    max_entry_size: ByteSize = ByteSize(1024**2)
    #: How often each worker adds its hit and miss counts to the shared statistics.
    stats_interval: Duration = attrs.field(default=Duration(1), validator=_check_positive)
    #: The semantic cache: `{ model = "embed", threshold = 0.95 }`. Off when absent.
    semantic: SemanticConfig | None = None
