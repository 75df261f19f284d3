"""The strategies: each picks one deployment among candidates (never an empty list)."""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from litegate import Call, Deployment

from .stats import RouterStats

__all__ = ["Chooser", "expected_tokens", "sticky_key"]

Strategy = Callable[[Sequence[Deployment], "Call | None"], Deployment]

#: Completion tokens the "cost" strategy expects when the request sets no ``max_tokens``.
DEFAULT_COMPLETION_TOKENS = 256


class Chooser:
    """Picks deployments by strategy; one per router, its counters and RNG shared by calls."""

    def __init__(self, stats: RouterStats, rng: random.Random) -> None:
        self.stats = stats
        self.rng = rng
        self._turns: dict[str, itertools.count[int]] = {}
        self._by_name: dict[str, Strategy] = {
            "shuffle": self.shuffle,
            "round-robin": self.round_robin,
            "least-busy": self.least_busy,
            "least-latency": self.least_latency,
            "usage": self.usage,
            "cost": self.cost,
            "ab": self.ab,
        }

    def choose(
        self, strategy: str, candidates: Sequence[Deployment], call: Call | None = None
    ) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        return self._by_name[strategy](candidates, call)

    def shuffle(self, candidates: Sequence[Deployment], call: Call | None = None) -> Deployment:
        weights = [d.routing.weight for d in candidates]
        return self.rng.choices(candidates, weights=weights)[0]

    def round_robin(self, candidates: Sequence[Deployment], call: Call | None = None) -> Deployment:
        turn = self._turns.setdefault(candidates[0].alias, itertools.count())
        return candidates[next(turn) % len(candidates)]

    def least_busy(self, candidates: Sequence[Deployment], call: Call | None = None) -> Deployment:
        return self._lowest(candidates, lambda d: self.stats.in_flight(d.id))

    def least_latency(
        self, candidates: Sequence[Deployment], call: Call | None = None
    ) -> Deployment:
        # Unmeasured deployments count as fastest, so each gets measured.
        return self._lowest(candidates, lambda d: self.stats.latency(d.id) or 0.0)

    def usage(self, candidates: Sequence[Deployment], call: Call | None = None) -> Deployment:
        """The lowest share of its RPM or TPM (the larger of the two) used in the last
        minute; a deployment without either limit counts as unused."""
        stats = self.stats

        def share(d: Deployment) -> float:
            rpm, tpm = d.routing.rpm, d.routing.tpm
            used = 0.0
            if rpm:
                used = stats.requests(d.id) / rpm
            if tpm:
                used = max(used, stats.tokens(d.id) / tpm)
            return used

        return self._lowest(candidates, share)

    def cost(self, candidates: Sequence[Deployment], call: Call | None = None) -> Deployment:
        """The cheapest for the call's expected tokens, from each deployment's
        ``input_cost_per_token`` and ``output_cost_per_token``; unpriced ones last."""
        prompt, completion = expected_tokens(call.request if call is not None else {})

        def price(d: Deployment) -> float:
            routing = d.routing
            if routing.input_cost_per_token is None and routing.output_cost_per_token is None:
                return math.inf
            return (routing.input_cost_per_token or 0.0) * prompt + (
                routing.output_cost_per_token or 0.0
            ) * completion

        return self._lowest(candidates, price)

    def ab(self, candidates: Sequence[Deployment], call: Call | None = None) -> Deployment:
        """Split by weight, sticky: a caller (its user, else its key) always lands on the
        same arm while the arms stay the same; anonymous calls are split at random."""
        key = sticky_key(call)
        if key is None:
            return self.shuffle(candidates)
        arms = sorted(candidates, key=lambda d: d.id)
        digest = hashlib.blake2b(f"{arms[0].alias}\0{key}".encode(), digest_size=8).digest()
        point = int.from_bytes(digest, "big") / 2**64 * sum(d.routing.weight for d in arms)
        for arm in arms:
            point -= arm.routing.weight
            if point < 0:
                return arm
        return arms[-1]

    def _lowest(
        self, candidates: Sequence[Deployment], score: Callable[[Deployment], float]
    ) -> Deployment:
        scores = [score(d) for d in candidates]
        best = min(scores)
        tied = [d for d, s in zip(candidates, scores, strict=True) if s == best]
        return tied[0] if len(tied) == 1 else self.rng.choice(tied)


def sticky_key(call: Call | None) -> str | None:
    """Who the caller is, for "ab": the principal's user, else the principal, else the
    request's ``user`` field."""
    if call is None:
        return None
    principal = call.principal
    if principal is not None:
        return f"user:{principal.user}" if principal.user else f"key:{principal.id}"
    user = call.request.get("user")
    return f"field:{user}" if isinstance(user, str) and user else None


def expected_tokens(request: dict[str, Any]) -> tuple[int, int]:
    """A cheap estimate of a request's (prompt, completion) tokens: about four characters a
    token, and the request's token limit (or 256) for the completion."""
    chars = 0
    for message in request.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(
                len(str(part.get("text", ""))) for part in content if isinstance(part, dict)
            )
    prompt = request.get("prompt") or request.get("input")
    if isinstance(prompt, str):
        chars += len(prompt)
    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    completion = limit if isinstance(limit, int) and limit > 0 else DEFAULT_COMPLETION_TOKENS
    return chars // 4 + 1, completion
