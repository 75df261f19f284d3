"""`ratelimit`: requests per minute, tokens per minute and parallel requests per key, user,
team, model alias and globally (GCRA windows and leased slots in `[state] kv`).
See docs/ratelimits.md."""

from __future__ import annotations

from .plugin import RateLimitPlugin

__all__ = ["RateLimitPlugin"]
