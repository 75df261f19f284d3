"""The router's hooks: `route` picks the first deployment, `retry` the next one (or a
fallback alias's), and the events keep the per-deployment statistics."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import attrs

from litegate import (
    Attempt,
    Call,
    Deployment,
    Gateway,
    GatewayError,
    Retry,
    StashKey,
    hookimpl,
)

from .config import RouterConfig
from .retries import backoff, fallback_aliases, is_retryable
from .shared_stats import SharedStats
from .stats import LocalStats, RouterStats
from .strategies import Chooser

__all__ = ["RouterPlugin"]


@attrs.define
class _Progress:
    """One call's way through its aliases."""

    alias: str
    retries: int = 0
    used: list[str] = attrs.field(factory=list)
    #: The deployment holding this call's in-flight count, if any.
    held: str | None = None


_PROGRESS = StashKey[_Progress]("router.progress")


class RouterPlugin:
    """Chooses each call's deployment by strategy, retries failed attempts, falls back to
    other aliases and cools down failing deployments (see docs/routing.md)."""

    Config = RouterConfig

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        failures, window = config.cooldown_failures, float(config.cooldown_window)
        cooldown = float(config.cooldown)
        self.shared = (
            SharedStats(
                failures=failures,
                window=window,
                cooldown=cooldown,
                refresh=float(config.shared_refresh),
            )
            if config.shared
            else None
        )
        self.stats: RouterStats = self.shared or LocalStats(
            failures=failures, window=window, cooldown=cooldown
        )
        self.chooser = Chooser(self.stats, self.rng)

    @hookimpl
    async def startup(self, gateway: Gateway) -> None:
        if self.shared is not None:
            ids = [d.id for group in gateway.deployments.values() for d in group]
            await self.shared.connect(await gateway.open_state(), ids)

    @hookimpl
    async def shutdown(self) -> None:
        if self.shared is not None:
            await self.shared.aclose()

    @hookimpl
    def route(self, call: Call, deployments: Sequence[Deployment]) -> Deployment:
        progress = _progress(call)
        return self._use(call, progress, self._pick(call.alias, deployments, ()))

    @hookimpl
    def retry(
        self,
        call: Call,
        error: GatewayError,
        attempt: Attempt,
        deployments: Mapping[str, Sequence[Deployment]],
    ) -> Retry | None:
        config = self.config
        progress = _progress(call)
        self._release(progress, attempt)
        if is_retryable(config, error) and progress.retries < config.retries:
            progress.retries += 1
            tried = {a.deployment for a in call.attempts}
            deployment = self._pick(progress.alias, deployments[progress.alias], tried)
            delay = backoff(config, progress.retries, error, self.rng)
            return Retry(self._use(call, progress, deployment), delay)
        for alias in fallback_aliases(config, call.alias, error):
            if alias in progress.used or alias == call.alias or not deployments.get(alias):
                continue
            progress.used.append(alias)
            progress.alias, progress.retries = alias, 0
            call.response_headers["x-litegate-fallback"] = alias
            deployment = self._pick(alias, deployments[alias], ())
            return Retry(self._use(call, progress, deployment))
        return None

    @hookimpl
    def on_success(self, call: Call) -> None:
        self._finish(call)

    @hookimpl
    def on_failure(self, call: Call) -> None:
        self._finish(call)

    # -- helpers -------------------------------------------------------------------------

    def _pick(
        self, alias: str, deployments: Sequence[Deployment], tried: set[str] | tuple[()]
    ) -> Deployment:
        """By strategy among the deployments not in cool-down, preferring untried ones;
        when every one is cooling (or tried), among all."""
        stats = self.stats
        fresh = [d for d in deployments if d.id not in tried] or list(deployments)
        candidates = [d for d in fresh if not stats.cooling(d.id)] or fresh
        strategy = self.config.strategies.get(alias, self.config.strategy)
        return self.chooser.choose(strategy, candidates)

    def _use(self, call: Call, progress: _Progress, deployment: Deployment) -> Deployment:
        self.stats.begin(deployment.id)
        progress.held = deployment.id
        call.response_headers["x-litegate-deployment"] = deployment.id
        call.response_headers["x-litegate-attempts"] = str(len(call.attempts) + 1)
        return deployment

    def _release(self, progress: _Progress, attempt: Attempt) -> None:
        if progress.held is not None:
            self.stats.end(progress.held)
            progress.held = None
        failed = attempt.status in self.config.retry_statuses
        self.stats.record(attempt.deployment, attempt.duration, ok=not failed)

    def _finish(self, call: Call) -> None:
        progress = call.stash.get(_PROGRESS)
        if progress is None or progress.held is None or not call.attempts:
            return
        self._release(progress, call.attempts[-1])


def _progress(call: Call) -> _Progress:
    progress = call.stash.get(_PROGRESS)
    if progress is None:
        progress = call.stash[_PROGRESS] = _Progress(call.alias)
    return progress
