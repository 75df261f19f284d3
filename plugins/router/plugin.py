"""The router's hooks: `route` picks the first deployment (waiting in the queue when every
one is at its limit), `retry` the next one (or a fallback alias's), and the events keep the
per-deployment statistics."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from starlette.routing import BaseRoute, Route

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
from litegate.route_auth import guarded

from .config import RouterConfig
from .health import Checks, deployments_endpoint
from .queue import WaitQueue
from .retries import backoff, fallback_aliases, is_retryable
from .shared_stats import SharedStats
from .stats import LocalStats
from .strategies import Chooser

__all__ = ["RouterPlugin"]


@attrs.define
class _Progress:
    """One call's way through its aliases."""

    alias: str
    #: The tags the call asks for.
    tags: frozenset[str]
    retries: int = 0
    used: list[str] = attrs.field(factory=list)
    #: The deployment holding this call's in-flight count, if any, and whether the call is
    #: its half-open circuit's probe.
    held: Deployment | None = None
    probe: bool = False


_PROGRESS = StashKey[_Progress]("router.progress")


class RouterPlugin:
    """Chooses each call's deployment by strategy within the deployments' limits, retries
    failed attempts, falls back to other aliases and opens the circuits of failing
    deployments (see docs/routing.md)."""

    Config = RouterConfig

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        breaker: dict[str, Any] = {
            "failures": config.cooldown_failures,
            "window": float(config.cooldown_window),
            "cooldown": float(config.cooldown),
            "failure_rate": config.cooldown_failure_rate,
            "min_calls": config.cooldown_min_calls,
            "probes": config.probes,
        }
        # Unless told not to share, the stats can share; whether they do is known at
        # start-up (`[state] kv`). Unconnected, they are this process's own.
        self.shared = (
            SharedStats(**breaker, refresh=float(config.shared_refresh))
            if config.shared is not False
            else None
        )
        self.stats: LocalStats = self.shared or LocalStats(**breaker)
        self.chooser = Chooser(self.stats, self.rng)
        self.queue: WaitQueue[Deployment] = WaitQueue(config.queue_size)
        self.checks = Checks(
            self.stats,
            None if config.health_check_interval is None else float(config.health_check_interval),
            float(config.health_check_timeout),
            config.retry_statuses,
            store=self.shared.connected_state if self.shared is not None else lambda: None,
        )

    @hookimpl
    async def startup(self, gateway: Gateway) -> None:
        if self.shared is not None and (self.config.shared or gateway.config.state.kv != "memory:"):
            ids = [d.id for group in gateway.deployments.values() for d in group]
            await self.shared.connect(await gateway.open_state(), ids)
        self.checks.start(gateway)

    @hookimpl
    async def shutdown(self) -> None:
        await self.checks.stop()
        if self.shared is not None:
            await self.shared.aclose()

    @hookimpl
    def routes(self, gateway: Gateway) -> list[BaseRoute]:
        handler = deployments_endpoint(gateway, self.stats, self.checks)
        endpoint = guarded(gateway, handler, roles={"admin"})
        return [Route("/health/deployments", endpoint, methods=["GET"])]

    @hookimpl
    async def route(self, call: Call, deployments: Sequence[Deployment]) -> Deployment:
        progress = self._progress(call)
        deployment = None
        if not self.queue.waiting(progress.alias):
            deployment = self._pick(call, progress, deployments, ())
        if deployment is None:
            deployment = await self._wait(call, progress, deployments, ())
        return self._use(call, progress, deployment)

    @hookimpl
    async def retry(
        self,
        call: Call,
        error: GatewayError,
        attempt: Attempt,
        deployments: Mapping[str, Sequence[Deployment]],
    ) -> Retry | None:
        config = self.config
        progress = self._progress(call)
        self._release(progress, attempt)
        if is_retryable(config, error) and progress.retries < config.retries:
            delay = backoff(config, progress.retries + 1, error, self.rng)
            if self._time_left(call) <= delay:
                return None
            progress.retries += 1
            tried = {a.deployment for a in call.attempts}
            group = deployments[progress.alias]
            deployment = self._pick(call, progress, group, tried)
            if deployment is None:
                deployment = await self._wait(call, progress, group, tried)
            return Retry(self._use(call, progress, deployment), delay)
        for alias in fallback_aliases(config, call.alias, error):
            if alias in progress.used or alias == call.alias or not deployments.get(alias):
                continue
            if call.principal is not None and not call.principal.may_use(alias):
                continue  # a key kept to some models never gets an answer from another
            if self._time_left(call) <= 0:
                return None
            progress.used.append(alias)
            progress.alias, progress.retries = alias, 0
            call.response_headers["x-litegate-fallback"] = alias
            deployment = self._pick(call, progress, deployments[alias], ())
            if deployment is None:
                deployment = await self._wait(call, progress, deployments[alias], ())
            return Retry(self._use(call, progress, deployment))
        return None

    @hookimpl
    def on_success(self, call: Call) -> None:
        if call.usage is not None and call.deployment is not None and not call.cache_hit:
            self.stats.charge(call.deployment.id, call.usage.total_tokens)
        self._finish(call)

    @hookimpl
    def on_failure(self, call: Call) -> None:
        self._finish(call)

    # -- choosing ------------------------------------------------------------------------

    def _pick(
        self,
        call: Call,
        progress: _Progress,
        deployments: Sequence[Deployment],
        tried: set[str] | tuple[()],
    ) -> Deployment | None:
        """By strategy among the deployments within their limits, preferring those the call
        asks for by tag, then untried ones, then those whose circuit is closed, then the
        lowest `priority`; None when every one is at its limit."""
        cooling, within = self.stats.cooling, self._within_limits
        usable: Sequence[Deployment] = ()
        if not progress.tags and not tried:  # the common case, in one pass
            usable = [
                d for d in deployments if not cooling(d.id) and (d.routing.unlimited or within(d))
            ]
        if not usable:
            usable = self._usable(progress, deployments, tried)
            if not usable:
                return None
        if len(usable) > 1:
            first = usable[0].routing.priority
            if any(d.routing.priority != first for d in usable):
                best = min(d.routing.priority for d in usable)
                usable = [d for d in usable if d.routing.priority == best]
        strategy = self.config.strategies.get(progress.alias, self.config.strategy)
        return self.chooser.choose(strategy, usable, call)

    def _usable(
        self, progress: _Progress, deployments: Sequence[Deployment], tried: set[str] | tuple[()]
    ) -> Sequence[Deployment]:
        cooling, within = self.stats.cooling, self._within_limits
        pool: Sequence[Deployment] = deployments
        if progress.tags:
            pool = [d for d in deployments if progress.tags.intersection(d.routing.tags)] or pool
        groups: tuple[Sequence[Deployment], ...] = (pool,)
        if tried:
            fresh = [d for d in pool if d.id not in tried]
            if fresh and len(fresh) < len(pool):
                groups = (fresh, pool)
        for group in groups:
            usable = [d for d in group if not cooling(d.id)] or group
            usable = [d for d in usable if d.routing.unlimited or within(d)]
            if usable:
                return usable
        return ()

    def _within_limits(self, deployment: Deployment) -> bool:
        routing, stats = deployment.routing, self.stats
        if (
            routing.max_parallel is not None
            and stats.in_flight(deployment.id) >= routing.max_parallel
        ):
            return False
        if routing.rpm is not None and stats.requests(deployment.id) >= routing.rpm:
            return False
        return routing.tpm is None or stats.tokens(deployment.id) < routing.tpm

    async def _wait(
        self,
        call: Call,
        progress: _Progress,
        deployments: Sequence[Deployment],
        tried: set[str] | tuple[()],
    ) -> Deployment:
        """Queue for a deployment of `deployments`; 429 when the wait runs out."""
        timeout = min(float(self.config.queue_timeout), self._time_left(call))
        deployment = await self.queue.wait(
            progress.alias,
            _priority(call, self.config),
            lambda: self._pick(call, progress, deployments, tried),
            timeout,
        )
        if deployment is not None:
            return deployment
        seconds = max(1, math.ceil(min(self._frees_in(d) for d in deployments)))
        raise GatewayError(
            429,
            f"Every deployment of the model '{progress.alias}' is at its rate or concurrency "
            f"limit; retry after {seconds}s.",
            code="rate_limit_exceeded",
            headers={"retry-after": str(seconds)},
        )

    def _frees_in(self, deployment: Deployment) -> float:
        """A guess at when `deployment` takes calls again (for ``Retry-After``)."""
        routing, stats = deployment.routing, self.stats
        if routing.rpm is not None and stats.requests(deployment.id) >= routing.rpm:
            return stats.minute_frees_in(deployment.id)
        return 1.0

    def _time_left(self, call: Call) -> float:
        total = self.config.total_timeout
        if total is None:
            return math.inf
        return float(total) - (time.perf_counter() - call.started)

    # -- bookkeeping ---------------------------------------------------------------------

    def _progress(self, call: Call) -> _Progress:
        progress = call.stash.get(_PROGRESS)
        if progress is None:
            progress = call.stash[_PROGRESS] = _Progress(call.alias, _tags(call, self.config))
        return progress

    def _use(self, call: Call, progress: _Progress, deployment: Deployment) -> Deployment:
        progress.probe = self.stats.begin(deployment.id)
        progress.held = deployment
        call.response_headers["x-litegate-deployment"] = deployment.id
        call.response_headers["x-litegate-attempts"] = str(len(call.attempts) + 1)
        return deployment

    def _release(self, progress: _Progress, attempt: Attempt | None) -> None:
        probe = progress.probe
        held, progress.held, progress.probe = progress.held, None, False
        if held is not None:
            self.stats.end(held.id)
            self.queue.wake(held.alias)
        if attempt is None or attempt.status is None:
            # No outcome (never sent, or the client went away mid-attempt): nothing to learn.
            if held is not None:
                self.stats.abandon(held.id, probe)
            return
        failed = attempt.status in self.config.retry_statuses
        self.stats.record(attempt.deployment, attempt.duration, ok=not failed, probe=probe)

    def _finish(self, call: Call) -> None:
        progress = call.stash.get(_PROGRESS)
        if progress is None or progress.held is None:
            return
        self._release(progress, call.attempts[-1] if call.attempts else None)


def _priority(call: Call, config: RouterConfig) -> int:
    """The call's queue priority (higher first): its header's, capped by its key's."""
    metadata = call.principal.metadata if call.principal is not None else {}
    allowed = metadata.get("priority")
    key_priority = allowed if isinstance(allowed, int) else None
    header = call.headers.get(config.priority_header) if config.priority_header else None
    if not header:
        return key_priority or 0
    try:
        asked = int(header)
    except ValueError:
        raise GatewayError(
            400,
            f"The header '{config.priority_header}' must be an integer.",
            code="invalid_request_error",
            param=config.priority_header,
        ) from None
    return asked if key_priority is None else min(asked, key_priority)


def _tags(call: Call, config: RouterConfig) -> frozenset[str]:
    """The tags the call asks for: its header's, else its key's ``tags`` metadata."""
    raw = call.headers.get(config.tags_header) if config.tags_header else None
    if raw:
        return frozenset(t.strip() for t in raw.split(",") if t.strip())
    if call.principal is None:
        return frozenset()
    listed = call.principal.metadata.get("tags")
    return frozenset(str(t) for t in listed) if isinstance(listed, list | tuple) else frozenset()
