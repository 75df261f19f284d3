"""Active health checks (a cheap call to each deployment, now and then, fed to its circuit)
and ``GET /health/deployments``, what the router knows about each deployment."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import orjson
from starlette.requests import Request
from starlette.responses import Response

from litegate import Deployment, Gateway, GatewayError, Principal
from litegate.pipeline import as_gateway_error

from .stats import RouterStats

__all__ = ["Checks", "deployments_report"]

log = logging.getLogger("litegate.router")

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
    ) -> None:
        self.stats = stats
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
            await asyncio.gather(*(self.check(gateway, d) for d in targets))
            await asyncio.sleep(interval)

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
        if failed:
            log.warning("router: health check of %s failed: %s", deployment.id, result.error)
        return result


def deployments_report(
    deployments: Sequence[Deployment], stats: RouterStats, checks: Checks
) -> list[dict[str, Any]]:
    """Each deployment's state, latency, circuit and usage, as `GET /health/deployments`
    shows them."""
    report = []
    for d in deployments:
        latency = stats.latency(d.id)
        check = checks.results.get(d.id)
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
                "last_check": None if check is None else attrs.asdict(check),
            }
        )
    return report


def deployments_endpoint(
    gateway: Gateway, stats: RouterStats, checks: Checks
) -> Callable[[Request, Principal], Any]:
    async def health_deployments(request: Request, principal: Principal) -> Response:
        deployments = [d for group in gateway.deployments.values() for d in group]
        body = {"deployments": deployments_report(deployments, stats, checks)}
        return Response(orjson.dumps(body), media_type="application/json")

    return health_deployments
