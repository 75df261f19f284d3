"""The ratelimit plugin's hooks: take each call's windows and slots in `pre_call`, settle
tokens with the real usage and free the slots when the call ends."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from litegate import Call, Gateway, GatewayError, StashKey, hookimpl
from litegate.state import State
from litegate.state.give_backs import GiveBacks

from . import limits
from .config import RateLimitConfig
from .limits import Refusal, Rule, Taken, reset_text, rules_for, token_keys
from .store import Store
from .tokens import TokenEstimator, load_offline_encoders

__all__ = ["RateLimitPlugin"]

_TAKEN = StashKey[tuple[Taken, State]]("ratelimit.taken")

_KIND_WORDS = {
    "requests": "requests per minute",
    "tokens": "tokens per minute",
    "parallel": "parallel requests",
}


class RateLimitPlugin:
    """Requests per minute, tokens per minute and parallel requests, per key, user, team,
    model alias and globally, counted in the gateway's `[state] kv` (see docs/ratelimits.md)."""

    Config = RateLimitConfig

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self.store = Store(
            policy=config.on_unavailable,
            timeout=float(config.store_timeout),
            retry=float(config.store_retry),
        )
        self.estimator = TokenEstimator(
            chars_per_token=config.chars_per_token, completion_tokens=config.completion_tokens
        )
        delay = float(config.give_back_delay)
        self.give_backs = (
            GiveBacks(delay, timeout=float(config.store_timeout)) if delay > 0 else None
        )

    @hookimpl
    async def startup(self, gateway: Gateway) -> None:
        self.store.bind(gateway)
        await self.store.connect()
        if self.config.tokenizer == "auto":
            models = {
                alias: [d.model for d in group] for alias, group in gateway.deployments.items()
            }
            encoders = await asyncio.to_thread(load_offline_encoders, models)
            self.estimator.encoders.update(encoders)

    @hookimpl
    async def shutdown(self) -> None:
        if self.give_backs is not None:
            await self.give_backs.aclose()
        await self.store.aclose()

    @hookimpl
    async def pre_call(self, call: Call) -> None:
        rules = rules_for(self.config, call)
        if not rules:
            return
        estimate = 0
        if any(rule.limits.tpm is not None for rule in rules):
            estimate = self.estimator.estimate(call.endpoint, call.alias, call.request)
            for rule in rules:
                if rule.limits.tpm is not None and 0 < rule.limits.tpm < estimate:
                    raise _too_large(rule, rule.limits.tpm, estimate)
        lease = float(self.config.slot_lease)

        async def take(state: State) -> Taken | Refusal:
            return await limits.take(state, rules, estimate, lease)

        result, state = await self.store.run(take)
        if isinstance(result, Refusal) and self._owed(rules):
            # Tokens given back but not written yet may be what this call lacks.
            await self.store.settle(state, self._write_owed(rules))
            result, state = await self.store.run(take)
        if isinstance(result, Refusal):
            raise _refused(result)
        call.stash[_TAKEN] = (result, state)
        call.response_headers.update(_headers(result, self._give_backs_on(state)))

    @hookimpl
    async def on_success(self, call: Call) -> None:
        await self._settle(call, None)

    @hookimpl
    async def on_failure(self, call: Call, error: GatewayError) -> None:
        await self._settle(call, error)

    async def _settle(self, call: Call, error: GatewayError | None) -> None:
        held = call.stash.get(_TAKEN)
        if held is None:
            return
        taken, state = held
        if call.usage is not None:
            actual = call.usage.total_tokens
        elif error is None or error.status == 499:
            actual = taken.estimate  # no usage reported, or the client left mid-answer
        else:
            actual = 0  # the call never got an answer: its tokens are given back
        if not taken.slots and (actual == taken.estimate or not taken.token_windows):
            return  # nothing to give back or settle

        give_backs = self._give_backs_on(state)

        async def settle(on: State) -> None:
            await limits.settle(on, taken, actual, give_backs)

        await self.store.settle(state, settle)

    def _give_backs_on(self, state: State) -> GiveBacks | None:
        """Give-backs wait only for the shared store (the local fallback is in memory)."""
        return self.give_backs if state is not self.store.local else None

    def _owed(self, rules: list[Rule]) -> bool:
        give_backs = self.give_backs
        return give_backs is not None and any(map(give_backs.pending, token_keys(rules)))

    def _write_owed(self, rules: list[Rule]) -> Callable[[State], Awaitable[None]]:
        async def write(_on: State) -> None:
            assert self.give_backs is not None
            await self.give_backs.flush(token_keys(rules))

        return write


def _headers(taken: Taken, give_backs: GiveBacks | None) -> dict[str, str]:
    headers = {}
    for kind, (limit, window, key) in taken.tightest.items():
        remaining = window.remaining
        if give_backs is not None and kind == "tokens":
            # Tokens this worker gave back but has not written yet are the client's too.
            remaining = min(limit, remaining - int(give_backs.amount(key)))
        headers[f"x-ratelimit-limit-{kind}"] = str(limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(remaining)
        headers[f"x-ratelimit-reset-{kind}"] = reset_text(window.reset_after)
    return headers


def _refused(refusal: Refusal) -> GatewayError:
    if refusal.limit == 0:  # waiting does not help: no Retry-After, so SDKs do not retry
        return GatewayError(
            429,
            f"No calls are allowed for {refusal.rule.describe()} "
            f"(a limit of 0 {_KIND_WORDS[refusal.kind]}).",
            code="rate_limit_exceeded",
        )
    wait = max(1, math.ceil(refusal.retry_after))
    message = (
        f"Rate limit reached for {refusal.rule.describe()}: "
        f"{refusal.limit} {_KIND_WORDS[refusal.kind]}. Try again in {wait}s."
    )
    headers = {"retry-after": str(wait)}
    if refusal.kind != "parallel":
        headers[f"x-ratelimit-limit-{refusal.kind}"] = str(refusal.limit)
        headers[f"x-ratelimit-remaining-{refusal.kind}"] = "0"
        headers[f"x-ratelimit-reset-{refusal.kind}"] = reset_text(refusal.retry_after)
    return GatewayError(429, message, code="rate_limit_exceeded", headers=headers)


def _too_large(rule: Rule, limit: int, estimate: int) -> GatewayError:
    return GatewayError(
        429,
        f"Request too large for {rule.describe()}: about {estimate} tokens, over the limit "
        f"of {limit} tokens per minute. Send a shorter prompt or a smaller max_tokens.",
        code="rate_limit_exceeded",
    )
