"""What the pages show, read straight from the records database, the running gateway and
its plugins (no HTTP round trip to the gateway's own API)."""

from __future__ import annotations

import importlib
import json
import logging
import math
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy import select

from litegate import Gateway
from litegate.config_types import Secret
from litegate.db.models import RequestLogRow
from litegate.reload import MASK

__all__ = ["Overview", "deployment_states", "overview", "percentile", "running_config"]

log = logging.getLogger("litegate.ui")

#: The overview's time ranges: name → (length, bucket width).
RANGES: dict[str, tuple[timedelta, timedelta]] = {
    "1h": (timedelta(hours=1), timedelta(minutes=5)),
    "6h": (timedelta(hours=6), timedelta(minutes=30)),
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=12)),
}
#: The most request-log rows one overview reads.
MAX_ROWS = 100_000


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q` percentile (0-100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@attrs.frozen
class Overview:
    labels: list[str]
    requests: list[float]
    errors: list[float]
    p50: list[float | None]
    p95: list[float | None]
    cost: list[float]
    hit_rate: list[float | None]
    totals: dict[str, Any]


async def overview(gateway: Gateway, range_name: str, team: str | None) -> Overview:
    """Requests, errors, latency, spend and cache hits per time bucket over the range, from
    the request log (`team`: only that team's calls)."""
    length, width = RANGES[range_name]
    now = datetime.now(UTC)
    start = now - length
    count = int(length / width)
    # Buckets end at `now`, so the last one holds the latest traffic.
    first = now - width * count
    query = (
        select(
            RequestLogRow.at,
            RequestLogRow.status,
            RequestLogRow.latency_ms,
            RequestLogRow.cache_hit,
            RequestLogRow.cost,
        )
        .where(RequestLogRow.at >= start)
        .order_by(RequestLogRow.id.desc())
        .limit(MAX_ROWS)
    )
    if team is not None:
        query = query.where(RequestLogRow.team_id == team)
    async with (await gateway.open_db()).session() as session:
        rows = (await session.execute(query)).all()
    requests = [0.0] * count
    errors = [0.0] * count
    hits = [0] * count
    cost = [0.0] * count
    latencies: list[list[float]] = [[] for _ in range(count)]
    all_latencies: list[float] = []
    total_cost = Decimal(0)
    for at, status, latency, cache_hit, row_cost in rows:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        index = min(count - 1, max(0, int((at - first) / width)))
        requests[index] += 1
        if status >= 400:
            errors[index] += 1
        if cache_hit:
            hits[index] += 1
        if row_cost is not None:
            cost[index] += float(row_cost)
            total_cost += Decimal(row_cost)
        if latency is not None and status < 400:
            latencies[index].append(float(latency))
            all_latencies.append(float(latency))
    fmt = "%H:%M" if length <= timedelta(days=1) else "%m-%d %H:%M"
    labels = [(first + width * (i + 1)).strftime(fmt) for i in range(count)]
    total = len(rows)
    failed = int(sum(errors))
    return Overview(
        labels=labels,
        requests=[r - e for r, e in zip(requests, errors, strict=True)],
        errors=errors,
        p50=[percentile(v, 50) for v in latencies],
        p95=[percentile(v, 95) for v in latencies],
        cost=cost,
        hit_rate=[100 * h / r if r else None for h, r in zip(hits, requests, strict=True)],
        totals={
            "requests": total,
            "errors": failed,
            "error_rate": 100 * failed / total if total else 0.0,
            "p50": percentile(all_latencies, 50),
            "p95": percentile(all_latencies, 95),
            "cost": total_cost,
            "hit_rate": 100 * sum(hits) / total if total else 0.0,
            "truncated": total >= MAX_ROWS,
        },
    )


async def deployment_states(gateway: Gateway) -> list[dict[str, Any]]:
    """Every deployment, with the router's view of it when a router plugin runs: the
    router's own report (`router.health.deployments_report`: state, circuit, latency, in
    flight, last health check) where it has one, else what its `stats` tell (in flight,
    latency, cooling down); without a router, just the deployments as configured."""
    deployments = [d for group in gateway.deployments.values() for d in group]
    rows = {
        d.id: {
            "alias": d.alias,
            "id": d.id,
            "provider": d.provider,
            "model": d.model,
            "api_base": d.api_base,
            "weight": d.routing.weight,
            "state": None,
            "circuit": None,
            "in_flight": None,
            "latency_ms": None,
            "requests_last_minute": None,
            "last_check": None,
        }
        for d in deployments
    }
    router = next((p for p in gateway.plugins if _has_stats(getattr(p, "stats", None))), None)
    if router is None:
        return list(rows.values())
    stats = router.stats
    try:
        report = getattr(
            importlib.import_module("litegate.plugins.router.health"), "deployments_report", None
        )
    except ImportError:
        report = None
    try:
        if report is not None and hasattr(router, "checks"):
            last = await router.checks.last(deployments)
            for found in report(deployments, stats, last):
                row = rows.get(found.get("id"))
                if row is not None:
                    row.update({k: v for k, v in found.items() if k in row})
        else:
            for d in deployments:
                latency = stats.latency(d.id)
                circuit = getattr(stats, "circuit", None)
                rows[d.id].update(
                    state="cooling down" if stats.cooling(d.id) else "healthy",
                    circuit=circuit(d.id) if callable(circuit) else None,
                    in_flight=int(stats.in_flight(d.id)),
                    latency_ms=None if latency is None else float(latency) * 1000,
                )
    except Exception:  # a router whose state can't be read here: show the deployments
        log.warning("ui: could not read the router's deployment state", exc_info=True)
    return list(rows.values())


def _has_stats(stats: Any) -> bool:
    return stats is not None and all(
        callable(getattr(stats, name, None)) for name in ("in_flight", "latency", "cooling")
    )


def running_config(gateway: Gateway) -> tuple[Any, str, bool]:
    """The running config with secrets masked as indented text, the reload status (None
    without hot reload) and whether this process can reload. With hot reload: the file as
    loaded; otherwise the file the config came from, read as written (``${VAR}`` references
    unresolved), or for a config given inline the parsed config with every secret hidden."""
    from litegate.reload import mask_config, reloader_for

    app = reloader_for(gateway)
    status: dict[str, Any] | None = None
    if app is not None:
        raw: Any = app.current.raw
        status = app.status()
    else:
        raw = None
        source = gateway.config.source
        if source and not source.startswith("<"):
            try:
                raw = tomllib.loads(Path(source).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                raw = None
        if raw is None:
            raw = attrs.asdict(gateway.config, recurse=True, value_serializer=_plain)
    text = json.dumps(mask_config(raw), indent=2, default=str)
    return status, text, app is not None


def _plain(_inst: Any, _field: Any, value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, frozenset | set | tuple):
        return list(value)
    return value
