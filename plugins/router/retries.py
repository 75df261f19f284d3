"""The retry policy: whether a failure is worth another attempt, where it goes, and when."""

from __future__ import annotations

import random

from litegate import GatewayError
from litegate.translation.errors import CONTENT_POLICY, CONTEXT_LENGTH

from .config import RouterConfig

__all__ = ["NEVER_RETRIED", "backoff", "fallback_aliases", "is_retryable"]

#: The caller's own mistakes: another attempt would fail the same way.
NEVER_RETRIED = frozenset({400, 401, 403, 404})


def is_retryable(config: RouterConfig, error: GatewayError) -> bool:
    """Worth another attempt on the same alias (context and policy errors are not)."""
    if error.status in NEVER_RETRIED or error.code in (CONTEXT_LENGTH, CONTENT_POLICY):
        return False
    return error.status in config.retry_statuses


def fallback_aliases(config: RouterConfig, alias: str, error: GatewayError) -> list[str]:
    """The aliases to fall back to from `alias` after `error`, in order (may be empty)."""
    if error.code == CONTEXT_LENGTH:
        return config.context_window_fallbacks.get(alias, [])
    if error.code == CONTENT_POLICY:
        return config.content_policy_fallbacks.get(alias, [])
    if error.status in NEVER_RETRIED or error.status not in config.retry_statuses:
        return []
    return config.fallbacks.get(alias, config.default_fallbacks)


def backoff(config: RouterConfig, retry: int, error: GatewayError, rng: random.Random) -> float:
    """The delay before retry number `retry` (1, 2, ...): exponential with "equal jitter"
    (half fixed, half random), never shorter than the upstream's ``Retry-After`` (seconds),
    never longer than `backoff_max`."""
    ceiling = min(float(config.backoff_max), float(config.backoff_base) * 2 ** (retry - 1))
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    retry_after = _seconds(error.headers.get("retry-after"))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, float(config.backoff_max))


def _seconds(value: str | None) -> float | None:
    # HTTP dates are allowed too, but providers send seconds; a date is ignored.
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
