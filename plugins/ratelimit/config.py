"""The ratelimit plugin's `[[pipeline]]` options."""

from __future__ import annotations

from typing import Any

import attrs

from litegate.config_types import Duration

__all__ = ["ON_UNAVAILABLE", "TOKENIZERS", "RateLimitConfig", "RateLimits"]

ON_UNAVAILABLE = ("open", "closed")
TOKENIZERS = ("auto", "heuristic")


def _not_negative(_instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name}: expected 0 or more (or no value), got {value}")


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(_instance: Any, _attribute: Any, value: str) -> None:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")

    return check


@attrs.frozen
class RateLimits:
    """One scope's limits, written as an inline table: ``{ rpm = 60, tpm = 40000 }``.
    A kind left out is not limited; 0 admits nothing."""

    #: Requests per minute.
    rpm: int | None = attrs.field(default=None, validator=_not_negative)
    #: Tokens (prompt + completion) per minute: estimated before the call, settled after.
    tpm: int | None = attrs.field(default=None, validator=_not_negative)
    #: Requests in flight at once.
    max_parallel: int | None = attrs.field(default=None, validator=_not_negative)


@attrs.frozen
class RateLimitConfig:
    #: Limits on all calls together, whoever makes them: ``{ rpm = 10000, tpm = 2000000 }``.
    global_limits: RateLimits = RateLimits()
    #: Default limits of each API key (the principal's id). A key's own limits (a virtual
    #: key's) replace these kind by kind.
    key_limits: RateLimits = RateLimits()
    #: Default limits of each user (the principal's user).
    user_limits: RateLimits = RateLimits()
    #: Default limits of each team (the principal's team).
    team_limits: RateLimits = RateLimits()
    #: Default limits of each model alias.
    alias_limits: RateLimits = RateLimits()
    #: Limits of named keys (by principal id, e.g. a static key's name), instead of
    #: `key_limits`: ``{ "ci-bot" = { rpm = 10 } }``.
    keys: dict[str, RateLimits] = attrs.field(factory=dict)
    #: Limits of named users, instead of `user_limits`.
    users: dict[str, RateLimits] = attrs.field(factory=dict)
    #: Limits of named teams, instead of `team_limits`.
    teams: dict[str, RateLimits] = attrs.field(factory=dict)
    #: Limits of named model aliases, instead of `alias_limits`:
    #: ``{ "gpt-4o" = { rpm = 500, tpm = 300000 } }``.
    aliases: dict[str, RateLimits] = attrs.field(factory=dict)
    #: When the `[state] kv` store cannot be reached: "open" counts in this process instead
    #: (the same limits, per worker), "closed" refuses calls with 503 and ``Retry-After``.
    on_unavailable: str = attrs.field(default="open", validator=_one_of(ON_UNAVAILABLE))
    #: Longest wait for the store per call before the `on_unavailable` policy applies.
    store_timeout: Duration = Duration(1)
    #: After the store failed, how long calls skip it (and use the policy) before trying
    #: it again.
    store_retry: Duration = Duration(5)
    #: Longest a call may hold a `max_parallel` slot: a worker that dies mid-call frees it
    #: after this long.
    slot_lease: Duration = Duration(600)
    #: How prompt tokens are estimated: "auto" (tiktoken where the model's encoding is
    #: available offline, else the character heuristic) or "heuristic" (always characters).
    tokenizer: str = attrs.field(default="auto", validator=_one_of(TOKENIZERS))
    #: Characters per token for the heuristic estimate.
    chars_per_token: float = attrs.field(default=4.0, validator=attrs.validators.gt(0))
    #: Tokens expected for the answer when a request sets no ``max_tokens``
    #: (``max_completion_tokens``); the estimate is settled with the real usage afterwards.
    completion_tokens: int = attrs.field(default=256, validator=attrs.validators.ge(0))
    #: How long tokens given back after a call (its estimate was above its real usage) may
    #: wait to be written, gathered per window, before they are: the window is stricter for
    #: that long, never looser, and a call it would refuse first writes them. 0 writes
    #: each at once (one more store write per call).
    give_back_delay: Duration = Duration(0.1)
