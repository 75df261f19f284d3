"""The strategies: each picks one deployment among candidates (never an empty list)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

from litegate import Deployment

from .stats import RouterStats

__all__ = ["Chooser"]


class Chooser:
    """Picks deployments by strategy; one per router, its counters and RNG shared by calls."""

    def __init__(self, stats: RouterStats, rng: random.Random) -> None:
        self.stats = stats
        self.rng = rng
        self._turns: dict[str, itertools.count[int]] = {}
        self._by_name: dict[str, Callable[[Sequence[Deployment]], Deployment]] = {
            "shuffle": self.shuffle,
            "round-robin": self.round_robin,
            "least-busy": self.least_busy,
            "least-latency": self.least_latency,
        }

    def choose(self, strategy: str, candidates: Sequence[Deployment]) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        return self._by_name[strategy](candidates)

    def shuffle(self, candidates: Sequence[Deployment]) -> Deployment:
        weights = [d.routing.weight for d in candidates]
        return self.rng.choices(candidates, weights=weights)[0]

    def round_robin(self, candidates: Sequence[Deployment]) -> Deployment:
        turn = self._turns.setdefault(candidates[0].alias, itertools.count())
        return candidates[next(turn) % len(candidates)]

    def least_busy(self, candidates: Sequence[Deployment]) -> Deployment:
        return self._lowest(candidates, self.stats.in_flight)

    def least_latency(self, candidates: Sequence[Deployment]) -> Deployment:
        # Unmeasured deployments count as fastest, so each gets measured.
        return self._lowest(candidates, lambda d: self.stats.latency(d) or 0.0)

    def _lowest(
        self, candidates: Sequence[Deployment], score: Callable[[str], float]
    ) -> Deployment:
        scores = [score(d.id) for d in candidates]
        best = min(scores)
        tied = [d for d, s in zip(candidates, scores, strict=True) if s == best]
        return tied[0] if len(tied) == 1 else self.rng.choice(tied)
