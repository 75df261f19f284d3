"""`cache`: an exact-match and (optionally) semantic response cache, scoped by tenant, in two
tiers (each worker's memory, then the `[state] kv` store). See docs/caching.md."""

from __future__ import annotations

from .plugin import CachePlugin

__all__ = ["CachePlugin"]
