"""Which limits apply to a call, and taking them from a `State` in one go."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import attrs

from litegate import Call, Limits
from litegate.state import State, Window

from .config import RateLimitConfig, RateLimits

__all__ = ["WINDOW", "Refusal", "Rule", "Taken", "rules_for", "take"]

#: Requests and tokens are counted per minute.
WINDOW = 60.0

_SCOPE_WORDS = {
    "key": "this API key",
    "user": "this user",
    "team": "this team",
    "global": "the gateway",
}


@attrs.frozen
class Rule:
    """One scope's limits for one call: ``scope`` is key, user, team, alias or global."""

    scope: str
    name: str
    limits: RateLimits

    def key(self, kind: str) -> str:
        return f"ratelimit:{self.scope}:{self.name}:{kind}"

    def describe(self) -> str:
        """The scope for an error message: never a key's id, only its kind (and the alias
        the client named itself)."""
        if self.scope == "alias":
            return f"model {self.name!r}"
        return _SCOPE_WORDS[self.scope]


@attrs.frozen
class Refusal:
    rule: Rule
    #: "requests", "tokens" or "parallel".
    kind: str
    limit: int
    retry_after: float


@attrs.define
class Taken:
    """What a call took: given back or settled when it ends."""

    estimate: int = 0
    #: (state key, limit) of each tokens window charged with `estimate`.
    token_windows: list[tuple[str, int]] = attrs.field(factory=list)
    #: (state key, token) of each parallel slot held.
    slots: list[tuple[str, str]] = attrs.field(factory=list)
    #: The tightest window taken of each kind ("requests", "tokens"), with its limit.
    tightest: dict[str, tuple[int, Window]] = attrs.field(factory=dict)


def _merge(own: Limits | None, default: RateLimits) -> RateLimits:
    if own is None:
        return default
    return RateLimits(
        rpm=default.rpm if own.rpm is None else own.rpm,
        tpm=default.tpm if own.tpm is None else own.tpm,
        max_parallel=default.max_parallel if own.max_parallel is None else own.max_parallel,
    )


def _limited(limits: RateLimits) -> bool:
    return limits.rpm is not None or limits.tpm is not None or limits.max_parallel is not None


def rules_for(config: RateLimitConfig, call: Call) -> list[Rule]:
    """The limits that apply to `call`, narrowest scope first."""
    rules = []
    principal = call.principal
    if principal is not None:
        key = _merge(principal.limits, config.keys.get(principal.id, config.key_limits))
        rules.append(Rule("key", principal.id, key))
        if principal.user is not None:
            limits = config.users.get(principal.user, config.user_limits)
            rules.append(Rule("user", principal.user, limits))
        if principal.team is not None:
            limits = config.teams.get(principal.team, config.team_limits)
            rules.append(Rule("team", principal.team, limits))
    rules.append(Rule("alias", call.alias, config.aliases.get(call.alias, config.alias_limits)))
    rules.append(Rule("global", "", config.global_limits))
    return [rule for rule in rules if _limited(rule.limits)]


async def take(state: State, rules: Sequence[Rule], estimate: int, lease: float) -> Taken | Refusal:
    """Take every window and slot `rules` ask for on `state`, or none of them: on a
    refusal, what was already taken is given back."""
    taken = Taken(estimate=estimate)
    for rule in rules:
        if rule.limits.max_parallel is not None:
            key = rule.key("parallel")
            token = await state.slot_acquire(key, rule.limits.max_parallel, lease)
            if token is None:
                await give_back(state, taken)
                return Refusal(rule, "parallel", rule.limits.max_parallel, 1.0)
            taken.slots.append((key, token))
    wanted: list[tuple[Rule, str, str, int, int]] = []
    for rule in rules:
        if rule.limits.rpm is not None:
            wanted.append((rule, "requests", rule.key("rpm"), rule.limits.rpm, 1))
        if rule.limits.tpm is not None:
            wanted.append((rule, "tokens", rule.key("tpm"), rule.limits.tpm, estimate))
    windows = await asyncio.gather(
        *(state.window_acquire(key, limit, WINDOW, cost) for _, _, key, limit, cost in wanted)
    )
    refusals = []
    for (rule, kind, key, limit, _cost), window in zip(wanted, windows, strict=True):
        if not window.allowed:
            refusals.append(Refusal(rule, kind, limit, window.retry_after))
            continue
        if kind == "tokens":
            taken.token_windows.append((key, limit))
        tightest = taken.tightest.get(kind)
        if tightest is None or (window.remaining, limit) < (tightest[1].remaining, tightest[0]):
            taken.tightest[kind] = (limit, window)
    if refusals:
        await asyncio.gather(
            *(
                state.window_adjust(key, limit, WINDOW, -cost)
                for (_, _, key, limit, cost), window in zip(wanted, windows, strict=True)
                if window.allowed and cost
            )
        )
        taken.token_windows.clear()
        await give_back(state, taken)
        return max(refusals, key=lambda refusal: refusal.retry_after)
    return taken


async def give_back(state: State, taken: Taken) -> None:
    """Release the slots `taken` holds (its windows stay charged)."""
    slots, taken.slots = taken.slots, []
    for key, token in slots:
        await state.slot_release(key, token)


async def settle(state: State, taken: Taken, actual: int) -> None:
    """Release the slots and charge the tokens windows `actual - estimate` more."""
    await give_back(state, taken)
    delta = actual - taken.estimate
    if delta:
        await asyncio.gather(
            *(state.window_adjust(key, limit, WINDOW, delta) for key, limit in taken.token_windows)
        )


def reset_text(seconds: float) -> str:
    """A duration as OpenAI writes it in ``x-ratelimit-reset-*``: "120ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest):d}s"
