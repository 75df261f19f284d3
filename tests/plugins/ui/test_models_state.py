"""The models page's deployment state: the router's own report where it has one, its stats
otherwise, the bare deployments without a router."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace
from typing import Any

from litegate.plugins.ui.data import deployment_states


class Stats:
    def in_flight(self, deployment: str) -> int:
        return 2

    def latency(self, deployment: str) -> float | None:
        return 0.25

    def cooling(self, deployment: str) -> bool:
        return deployment == "b#0"

    def circuit(self, deployment: str) -> str:
        return "open" if deployment == "b#0" else "closed"


class Checks:
    async def last(self, deployments: Any) -> dict[str, dict[str, Any]]:
        return {"a#0": {"ok": True, "at": 0.0, "latency": 0.1, "error": None}}


def deployment(alias: str) -> Any:
    return SimpleNamespace(
        alias=alias,
        id=f"{alias}#0",
        provider="mock",
        model=alias,
        api_base=None,
        routing=SimpleNamespace(weight=1.0),
    )


def gateway(*plugins: Any) -> Any:
    return SimpleNamespace(
        deployments={"a": [deployment("a")], "b": [deployment("b")]}, plugins=list(plugins)
    )


async def test_without_a_router_the_deployments_are_listed() -> None:
    rows = await deployment_states(gateway(object()))
    assert [row["id"] for row in rows] == ["a#0", "b#0"]
    assert all(row["state"] is None for row in rows)


async def test_the_router_stats_give_state_circuit_and_latency(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "litegate.plugins.router.health", types.ModuleType("x"))
    rows = await deployment_states(gateway(SimpleNamespace(stats=Stats())))
    assert rows[0]["state"] == "healthy" and rows[0]["circuit"] == "closed"
    assert rows[1]["state"] == "cooling down" and rows[1]["circuit"] == "open"
    assert rows[0]["in_flight"] == 2 and rows[0]["latency_ms"] == 250.0


async def test_the_router_report_is_used_when_it_has_one(monkeypatch) -> None:
    health = types.ModuleType("litegate.plugins.router.health")

    def deployments_report(deployments: Any, stats: Any, last: Any) -> list[dict[str, Any]]:
        return [
            {
                "id": d.id,
                "state": "unhealthy" if stats.cooling(d.id) else "healthy",
                "circuit": stats.circuit(d.id),
                "latency_ms": 250.0,
                "in_flight": 2,
                "requests_last_minute": 7,
                "last_check": last.get(d.id),
                "priority": 0,
            }
            for d in deployments
        ]

    health.deployments_report = deployments_report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "litegate.plugins.router.health", health)
    rows = await deployment_states(gateway(SimpleNamespace(stats=Stats(), checks=Checks())))
    assert rows[0]["last_check"]["ok"] is True and rows[0]["requests_last_minute"] == 7
    assert rows[1]["state"] == "unhealthy" and rows[1]["circuit"] == "open"
    assert "priority" not in rows[0]
