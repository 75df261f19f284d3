"""Which limits apply to a call, and taking them from a `State` in one go."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence

import attrs

from litegate import Call, Limits
from litegate.state import State, Window
from litegate.state.give_backs import GiveBacks

from .config import RateLimitConfig, RateLimits

__all__ = [
    "WINDOW",
    "Refusal",
    "Rule",
    "Taken",
    "release",
    "reset_text",
    "rules_for",
    "settle",
    "take",
    "token_keys",
]

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
    #: The tightest window taken of each kind ("requests", "tokens"), with its limit and
    #: state key.
    tightest: dict[str, tuple[int, Window, str]] = attrs.field(factory=dict)


def _merge(own: Limits | None, default: RateLimits) -> RateLimits:
    if own is None:
        return default
    return RateLimits(
        rpm=default.rpm if own.rpm is None else max(0, own.rpm),
        tpm=default.tpm if own.tpm is None else max(0, own.tpm),
        max_parallel=default.max_parallel if own.max_parallel is None else max(0, own.max_parallel),
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
    """Take every window and slot `rules` ask for on `state`, or none of them. The windows
    are taken in one atomic step (`State.windows_acquire`); slots come first, one by one,
    and are released again when the windows refuse."""
    for rule in rules:
        # A limit of 0 admits nothing (a blocked key, a retired alias).
        for kind, limit in (
            ("requests", rule.limits.rpm),
            ("tokens", rule.limits.tpm),
            ("parallel", rule.limits.max_parallel),
        ):
            if limit is not None and limit < 1:
                return Refusal(rule, kind, 0, WINDOW)
    taken = Taken(estimate=estimate)
    for rule in rules:
        if rule.limits.max_parallel is not None:
            key = rule.key("parallel")
            token = await state.slot_acquire(key, rule.limits.max_parallel, lease)
            if token is None:
                await release(state, taken)
                return Refusal(rule, "parallel", rule.limits.max_parallel, 1.0)
            taken.slots.append((key, token))
    wanted: list[tuple[Rule, str, str, int, int]] = []
    for rule in rules:
        if rule.limits.rpm is not None:
            wanted.append((rule, "requests", rule.key("rpm"), rule.limits.rpm, 1))
        if rule.limits.tpm is not None:
            wanted.append((rule, "tokens", rule.key("tpm"), rule.limits.tpm, estimate))
    if not wanted:
        return taken
    windows = await state.windows_acquire(
        [(key, limit, WINDOW, cost) for _, _, key, limit, cost in wanted]
    )
    refusals = [
        Refusal(rule, kind, limit, window.retry_after)
        for (rule, kind, _, limit, _), window in zip(wanted, windows, strict=True)
        if not window.allowed
    ]
    if refusals:
        await release(state, taken)
        return max(refusals, key=lambda refusal: refusal.retry_after)
    for (_, kind, key, limit, _), window in zip(wanted, windows, strict=True):
        if kind == "tokens":
            taken.token_windows.append((key, limit))
        tightest = taken.tightest.get(kind)
        if tightest is None or (window.remaining, limit) < (tightest[1].remaining, tightest[0]):
            taken.tightest[kind] = (limit, window, key)
    return taken


async def release(state: State, taken: Taken) -> None:
    """Release the slots `taken` holds."""
    slots, taken.slots = taken.slots, []
    for key, token in slots:
        await state.slot_release(key, token)


async def settle(
    state: State, taken: Taken, actual: int, give_backs: GiveBacks | None = None
) -> None:
    """Release the slots and charge the tokens windows `actual - estimate` more; tokens
    given back go through `give_backs` when there is one (written a little later)."""
    await release(state, taken)
    delta = actual - taken.estimate
    if not delta:
        return
    for key, limit in taken.token_windows:
        if delta < 0 and give_backs is not None:
            give_backs.add(key, delta, _adjuster(state, key, limit))
        else:
            await state.window_adjust(key, limit, WINDOW, delta)


def _adjuster(state: State, key: str, limit: int) -> Callable[[float], Awaitable[object]]:
    async def adjust(total: float) -> object:
        return await state.window_adjust(key, limit, WINDOW, int(total))

    return adjust


def token_keys(rules: Sequence[Rule]) -> list[str]:
    """The tokens windows `rules` take (those that gather give-backs)."""
    return [rule.key("tpm") for rule in rules if rule.limits.tpm is not None]


def reset_text(seconds: float) -> str:
    """A duration as OpenAI writes it in ``x-ratelimit-reset-*``: "120ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest):d}s"
