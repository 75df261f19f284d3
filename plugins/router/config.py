"""The router's `[[pipeline]]` options."""

from __future__ import annotations

from typing import Any

import attrs

from litegate.config_types import Duration

__all__ = ["STRATEGIES", "RouterConfig"]

STRATEGIES = ("shuffle", "round-robin", "least-busy", "least-latency", "usage", "cost", "ab")


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
    #: each `[[models]]` entry's ``router.weight``), "round-robin", "least-busy" (fewest
    #: calls in flight), "least-latency" (lowest moving average of attempt latency; time to
    #: first chunk for streams), "usage" (lowest share of its ``router.rpm``/``tpm`` used),
    #: "cost" (cheapest for the call's expected tokens, from ``router.input_cost_per_token``
    #: and ``output_cost_per_token``) or "ab" (split by ``router.weight``, sticky per caller).
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
    #: Failures within `cooldown_window` that open a deployment's circuit (0: never).
    cooldown_failures: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    #: Share of failed attempts within `cooldown_window` that opens a deployment's circuit
    #: too, once at least `cooldown_min_calls` attempts ended there (0: off).
    cooldown_failure_rate: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
    #: Attempts a deployment needs within the window before `cooldown_failure_rate` applies.
    cooldown_min_calls: int = attrs.field(default=10, validator=attrs.validators.ge(1))
    #: The window in which failures are counted.
    cooldown_window: Duration = Duration(60)
    #: How long an open circuit skips its deployment (unless every deployment is skipped);
    #: then it is half-open: `probes` calls go through, a success closes it, a failure
    #: opens it again.
    cooldown: Duration = Duration(30)
    #: Calls let through at once to a half-open deployment.
    probes: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    #: Longest a call may wait in the queue when every deployment of its alias is at its
    #: ``router.rpm``/``tpm``/``max_parallel`` limit; then it gets 429 (0: at once).
    queue_timeout: Duration = Duration(10)
    #: Most calls waiting in the queue at once (per worker); more get 429 at once.
    queue_size: int = attrs.field(default=1000, validator=attrs.validators.ge(0))
    #: Request header carrying a call's queue priority (an integer, higher first); the
    #: key's ``priority`` metadata caps it. Empty: only the key's metadata counts.
    priority_header: str = "x-litegate-priority"
    #: Request header carrying the tags a call asks for (comma-separated); the key's
    #: ``tags`` metadata is used when absent. Empty: only the key's metadata counts.
    tags_header: str = "x-litegate-tags"
    #: Longest a call may spend on attempts, retries and backoff together; no retry or
    #: fallback starts after it (unset: no bound beyond `retries`).
    total_timeout: Duration | None = None
    #: Send each deployment a cheap request (a one-token chat) this often and feed the
    #: outcome to its circuit (unset: no active checks). ``router.health_check = false``
    #: exempts a deployment.
    health_check_interval: Duration | None = None
    #: Longest a health check may take before it counts as failed.
    health_check_timeout: Duration = Duration(10)
    #: Share circuits, in-flight counts, usage and latencies with every worker and instance
    #: on the gateway's ``[state] kv`` (see docs/routing.md). Unset: on, unless
    #: ``[state] kv = "memory:"`` (one process: nothing to share).
    shared: bool | None = None
    #: With `shared`, how often each worker reads the others' stats from the store.
    shared_refresh: Duration = Duration(0.2)
    #: Seed for the router's random choices (tests, reproducible demos); unset: random.
    seed: int | None = None
