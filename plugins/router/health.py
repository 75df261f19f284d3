"""Active health checks (a cheap call to each deployment, now and then, fed to its circuit)
and ``GET /health/deployments``, what the router knows about each deployment."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import orjson
from starlette.requests import Request
from starlette.responses import Response

from litegate import Deployment, Gateway, GatewayError, Principal
from litegate.pipeline import as_gateway_error
from litegate.state import State, StateError

from .stats import RouterStats

__all__ = ["Checks", "deployments_report"]

log = logging.getLogger("litegate.router")

#: Held (with a TTL) by the worker running this round of checks.
_TURN = "router:checking"

#: The cheap call: one short message, one token back.
PING = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}


@attrs.define
class CheckResult:
    ok: bool
    #: Unix time the check ended.
    at: float
    latency: float
    #: The error code when it failed.
    error: str | None = None


class Checks:
    """The health checks of one router: a background task calls every deployment (not
    exempted) every `interval` seconds, concurrently, and records each outcome."""

    def __init__(
        self,
        stats: RouterStats,
        interval: float | None,
        timeout: float,
        failure_statuses: Sequence[int],
        store: Callable[[], State | None] = lambda: None,
    ) -> None:
        self.stats = stats
        #: The shared store, once the router shares one: then one worker checks per round
        #: and every worker reports the results.
        self.store = store
        self.interval = interval
        self.timeout = timeout
        self.results: dict[str, CheckResult] = {}
        self._task: asyncio.Task[None] | None = None
        self.failure_statuses = frozenset(failure_statuses)

    def start(self, gateway: Gateway) -> None:
        if self.interval is not None:
            self._task = asyncio.create_task(self._run(gateway, self.interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self, gateway: Gateway, interval: float) -> None:
        targets = [
            d for group in gateway.deployments.values() for d in group if d.routing.health_check
        ]
        while True:
            if await self._my_turn(interval):
                await asyncio.gather(*(self.check(gateway, d) for d in targets))
            await asyncio.sleep(interval)

    async def _my_turn(self, interval: float) -> bool:
        """Whether this worker runs this round: with a shared store, the first worker to
        wake after the last round took it."""
        state = self.store()
        if state is None:
            return True
        try:
            return await state.compare_and_set(_TURN, None, b"1", ttl=interval * 0.9)
        except StateError:
            return True

    async def last(self, deployments: Sequence[Deployment]) -> dict[str, dict[str, Any]]:
        """The last check of each deployment that has one (every worker's, when shared)."""
        state = self.store()
        if state is None or self.interval is None:
            return {d: attrs.asdict(r) for d, r in self.results.items()}
        found = {}
        for deployment in deployments:
            try:
                value = await state.get(f"router:check:{deployment.id}")
            except StateError:
                value = None
            if value is not None:
                found[deployment.id] = orjson.loads(value)
        return found

    async def check(self, gateway: Gateway, deployment: Deployment) -> CheckResult:
        """Call `deployment` once, straight through its adapter (no other plugin runs)."""
        call = gateway.new_call("chat", {"model": deployment.alias, **PING})
        call.deployment = deployment
        adapter = gateway.dispatcher.targeted[f"provider:{deployment.provider}"]
        started = time.perf_counter()
        error: GatewayError | None = None
        try:
            async with asyncio.timeout(self.timeout):
                await adapter(call=call, deployment=deployment)
        except TimeoutError:
            error = GatewayError(504, "health check timed out", code="upstream_timeout")
        except Exception as exc:  # any failure is the deployment's, not the checker's
            error = as_gateway_error(exc, call)
        latency = time.perf_counter() - started
        # Only what would count against a call counts against the check: a 400 (the
        # deployment does not do chat) is no outage.
        failed = error is not None and error.status in self.failure_statuses
        result = CheckResult(
            ok=not failed, at=time.time(), latency=latency, error=error.code if error else None
        )
        self.results[deployment.id] = result
        self.stats.record(deployment.id, latency if error is None else None, ok=not failed)
        state = self.store()
        if state is not None and self.interval is not None:
            ttl = max(3 * self.interval, 60.0)
            try:
                await state.set(
                    f"router:check:{deployment.id}", orjson.dumps(attrs.asdict(result)), ttl=ttl
                )
            except StateError as exc:
                log.warning("router: could not share a health check: %s", exc)
        if failed:
            log.warning("router: health check of %s failed: %s", deployment.id, result.error)
        return result


def deployments_report(
    deployments: Sequence[Deployment],
    stats: RouterStats,
    checks: Mapping[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Each deployment's state, latency, circuit and usage, as `GET /health/deployments`
    shows them."""
    report = []
    for d in deployments:
        latency = stats.latency(d.id)
        circuit = stats.circuit(d.id)
        report.append(
            {
                "id": d.id,
                "alias": d.alias,
                "provider": d.provider,
                "model": d.model,
                "state": "healthy" if circuit == "closed" else "unhealthy",
                "circuit": circuit,
                "latency_ms": None if latency is None else round(latency * 1000, 1),
                "in_flight": stats.in_flight(d.id),
                "requests_last_minute": stats.requests(d.id),
                "tokens_last_minute": stats.tokens(d.id),
                "limits": {
                    "rpm": d.routing.rpm,
                    "tpm": d.routing.tpm,
                    "max_parallel": d.routing.max_parallel,
                },
                "priority": d.routing.priority,
                "tags": list(d.routing.tags),
                "last_check": checks.get(d.id),
            }
        )
    return report


def deployments_endpoint(
    gateway: Gateway, stats: RouterStats, checks: Checks
) -> Callable[[Request, Principal], Any]:
    async def health_deployments(request: Request, principal: Principal) -> Response:
        deployments = [d for group in gateway.deployments.values() for d in group]
        last = await checks.last(deployments)
        body = {"deployments": deployments_report(deployments, stats, last)}
        return Response(orjson.dumps(body), media_type="application/json")

    return health_deployments
