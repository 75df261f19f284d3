"""The router's `[[pipeline]]` options."""

from __future__ import annotations

from typing import Any

import attrs

from litegate.config_types import Duration

__all__ = ["STRATEGIES", "RouterConfig"]

STRATEGIES = ("shuffle", "round-robin", "least-busy", "least-latency")


def _check_strategy(_instance: Any, _attr: Any, value: str) -> None:
    if value not in STRATEGIES:
        raise ValueError(f"expected one of {', '.join(STRATEGIES)}, got {value!r}")


def _check_strategies(_instance: Any, _attr: Any, value: dict[str, str]) -> None:
    for alias, strategy in value.items():
        if strategy not in STRATEGIES:
            raise ValueError(f"{alias}: expected one of {', '.join(STRATEGIES)}, got {strategy!r}")


@attrs.frozen
class RouterConfig:
    #: How a deployment is chosen among an alias's: "shuffle" (random, in proportion to
    #: each `[[models]]` entry's ``router.weight``),
    #: "round-robin", "least-busy" (fewest calls in flight) or "least-latency" (lowest
    #: moving average of attempt latency; time to first chunk for streams).
    strategy: str = attrs.field(default="shuffle", validator=_check_strategy)
    #: Per-alias strategy overrides: ``{ "gpt-4o" = "least-latency" }``.
    strategies: dict[str, str] = attrs.field(factory=dict, validator=_check_strategies)
    #: Further attempts on the same alias after a retryable failure (0 turns retries off).
    retries: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    #: First retry's delay; doubles per retry up to `backoff_max`, with random jitter.
    backoff_base: Duration = Duration(0.1)
    #: Longest delay between retries; a longer upstream ``Retry-After`` is capped to it.
    backoff_max: Duration = Duration(10)
    #: Upstream statuses worth another attempt (timeouts are 504, connection errors 502).
    #: 400, 401, 403 and 404 are never retried.
    retry_statuses: list[int] = attrs.field(factory=lambda: [408, 409, 429, 500, 502, 503, 504])
    #: Ordered fallback aliases per alias, tried when its retries are spent:
    #: ``{ "gpt-4o" = ["claude-sonnet", "gpt-4o-mini"] }``.
    fallbacks: dict[str, list[str]] = attrs.field(factory=dict)
    #: Fallbacks for aliases without an entry in `fallbacks`.
    default_fallbacks: list[str] = attrs.field(factory=list)
    #: Fallbacks when the prompt is too long for the alias (``context_length_exceeded``).
    context_window_fallbacks: dict[str, list[str]] = attrs.field(factory=dict)
    #: Fallbacks when the provider refuses on content policy (``content_policy_violation``).
    content_policy_fallbacks: dict[str, list[str]] = attrs.field(factory=dict)
    #: Failures within `cooldown_window` that put a deployment in cool-down (0: never).
    cooldown_failures: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    #: The window in which failures are counted.
    cooldown_window: Duration = Duration(60)
    #: How long a deployment in cool-down is skipped (unless every deployment is cooling).
    cooldown: Duration = Duration(30)
    #: Share cool-downs, in-flight counts and latencies with every worker and instance on
    #: the gateway's ``[state] kv`` (see docs/routing.md); off: each worker keeps its own.
    shared: bool = False
    #: With `shared`, how often each worker reads the others' stats from the store.
    shared_refresh: Duration = Duration(0.2)
    #: Seed for the router's random choices (tests, reproducible demos); unset: random.
    seed: int | None = None
