"""`spend`: the spend ledger -- one row per call, written off the request path in batches --
and the spend reports (``GET /admin/v1/spend``).

Calls are queued in memory as they finish and written by a background task, in batches of
`batch_size` (or every `flush_interval`). When the database is unreachable, rows wait in the
queue and the writer retries; calls are not slowed or failed. A full queue (`max_queue`)
drops new rows and counts them: the `dropped` attribute and the OpenTelemetry counter
``litegate.spend.dropped``. Shutdown writes what is left. Inserts are idempotent on the
request id, so a batch written twice adds no rows; a request id the client chose gets a
random suffix in the ledger, so two calls under one such id are both recorded.

Costs come from the `cost` plugin (``call.cost``); without it, from the shipped price table.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections import Counter, deque
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from opentelemetry import metrics
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from litegate import Call, Gateway, GatewayError, Principal, hookimpl
from litegate.config_types import Duration
from litegate.pricing import call_cost
from litegate.route_auth import guarded

if TYPE_CHECKING:
    from litegate.db.queries.spend import SpendEntry

__all__ = ["REPORT_ROLES", "SpendPlugin"]

log = logging.getLogger("litegate.spend")

#: Who may read spend reports; each sees what their role covers (see `report_scope`).
REPORT_ROLES = frozenset({"admin", "org_admin", "team_admin", "viewer"})
_DEFAULT_DAYS = 30
# Column widths of the ledger: longer values are cut rather than failing a whole batch.
_WIDTHS = {"request_id": 64, "id": 36, "alias": 255, "provider": 64, "status": 32}


class SpendPlugin:
    @attrs.frozen
    class Config:
        #: Most rows written in one statement.
        batch_size: int = attrs.field(default=200, validator=attrs.validators.ge(1))
        #: Write queued rows at least this often.
        flush_interval: Duration = Duration(1)
        #: Most rows waiting in memory (while the database is slow or down); rows of calls
        #: finishing while it is full are dropped and counted (``litegate.spend.dropped``).
        max_queue: int = attrs.field(default=100_000, validator=attrs.validators.ge(1))
        #: First wait before writing again after a failed write; doubles up to 30 s.
        retry_interval: Duration = Duration(1)
        #: On shutdown, how long to keep trying to write what is queued.
        shutdown_timeout: Duration = Duration(10)
        #: Serve ``GET /admin/v1/spend`` (spend by key, user, team, model or day; JSON/CSV).
        reports: bool = True

    def __init__(self, config: Config) -> None:
        self.config = config
        self._queue: deque[SpendEntry] = deque()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        #: written, dropped (queue full), rejected (refused by the database), failed_writes.
        self.counts: Counter[str] = Counter()
        self._dropped_metric = metrics.get_meter("litegate.spend").create_counter(
            "litegate.spend.dropped",
            unit="{call}",
            description="Spend ledger rows dropped because the write queue was full.",
        )

    @property
    def dropped(self) -> int:
        """Rows lost because the queue was full."""
        return self.counts["dropped"]

    @property
    def queued(self) -> int:
        """Rows waiting to be written."""
        return len(self._queue)

    # -- lifecycle --------------------------------------------------------------------

    @hookimpl
    def startup(self, gateway: Gateway) -> None:
        task = asyncio.get_running_loop().create_task(self._write_regularly(gateway))
        self._tasks.add(task)

    @hookimpl
    async def shutdown(self, gateway: Gateway) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if not self._queue:
            return
        try:
            async with asyncio.timeout(float(self.config.shutdown_timeout)):
                while self._queue:
                    if not await self._write_batch(gateway):
                        await asyncio.sleep(min(1.0, float(self.config.retry_interval)))
        except TimeoutError:
            log.error(
                "spend ledger: %d row(s) could not be written before shutdown", len(self._queue)
            )

    # -- recording --------------------------------------------------------------------

    @hookimpl
    def on_success(self, call: Call) -> None:
        self._record(call, "success")

    @hookimpl
    def on_failure(self, call: Call, error: GatewayError) -> None:
        self._record(call, error.code or f"http_{error.status}")

    def _record(self, call: Call, status: str) -> None:
        if call.principal is None:
            return  # nobody to charge: refused before authentication
        if len(self._queue) >= self.config.max_queue:
            self.counts["dropped"] += 1
            self._dropped_metric.add(1)
            return
        self._queue.append(_entry(call, status))
        if len(self._queue) >= self.config.batch_size:
            self._wake.set()

    # -- writing ----------------------------------------------------------------------

    async def _write_regularly(self, gateway: Gateway) -> None:
        backoff = float(self.config.retry_interval)
        while True:
            if not self._queue or len(self._queue) < self.config.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), float(self.config.flush_interval))
            self._wake.clear()
            while self._queue:
                if await self._write_batch(gateway):
                    backoff = float(self.config.retry_interval)
                    continue
                await asyncio.sleep(backoff)
                backoff = min(30.0, backoff * 2)

    async def _write_batch(self, gateway: Gateway) -> bool:
        """Write the oldest queued rows; True when they are stored (or refused for good)."""
        from sqlalchemy.exc import DataError, IntegrityError

        from litegate.db.queries.spend import insert_spend

        batch = list(itertools.islice(self._queue, self.config.batch_size))
        try:
            db = await gateway.open_db()
            async with db.session() as session:
                await insert_spend(session, batch)
        except (DataError, IntegrityError):
            # Not an outage: some row is unacceptable. Write them one by one, lose only it.
            await self._write_singly(gateway, batch)
        except Exception as exc:
            self.counts["failed_writes"] += 1
            log.warning("spend ledger: %d row(s) wait, the database failed: %s", len(batch), exc)
            return False
        self.counts["written"] += len(batch)
        for _ in batch:
            self._queue.popleft()
        return True

    async def _write_singly(self, gateway: Gateway, batch: list[SpendEntry]) -> None:
        from litegate.db.queries.spend import insert_spend

        db = await gateway.open_db()
        for entry in batch:
            try:
                async with db.session() as session:
                    await insert_spend(session, [entry])
            except Exception as exc:  # this row only; the others go on
                self.counts["rejected"] += 1
                log.error("spend ledger: the database refused row %s: %s", entry.request_id, exc)

    # -- reports ----------------------------------------------------------------------

    @hookimpl
    def routes(self, gateway: Gateway) -> list[BaseRoute]:
        if not self.config.reports:
            return []

        async def spend_report(request: Request, principal: Principal) -> Response:
            return await _report(gateway, request, principal)

        return [
            Route(
                "/admin/v1/spend",
                guarded(gateway, spend_report, roles=REPORT_ROLES),
                methods=["GET"],
            )
        ]


def _cut(value: str | None, width: int) -> str | None:
    return value if value is None or len(value) <= width else value[:width]


def _ledger_id(call: Call) -> str:
    """The call's id, unique in the ledger. A gateway-made id is unique already; one the client
    chose (its ``x-request-id``) may come again, and a second call under it must not vanish
    from the ledger, so it gets a random suffix: ``<client id>:<8 hex>``."""
    if call.headers.get("x-request-id") != call.id:
        return call.id[: _WIDTHS["request_id"]]
    return f"{call.id[: _WIDTHS['request_id'] - 9]}:{secrets.token_hex(4)}"


def _entry(call: Call, status: str) -> SpendEntry:
    from litegate.db.queries.spend import SpendEntry

    principal = call.principal
    assert principal is not None
    usage = call.usage
    deployment = call.deployment
    latency = call.latency
    return SpendEntry(
        request_id=_ledger_id(call),
        alias=_cut(call.alias, _WIDTHS["alias"]) or "",
        status=_cut(status, _WIDTHS["status"]) or "",
        key_id=_cut(principal.id, _WIDTHS["id"]),
        user_id=_cut(principal.user, _WIDTHS["id"]),
        team_id=_cut(principal.team, _WIDTHS["id"]),
        org_id=_cut(principal.org, _WIDTHS["id"]),
        deployment=_cut(deployment.id, _WIDTHS["alias"]) if deployment else None,
        provider=_cut(deployment.provider, _WIDTHS["provider"]) if deployment else None,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        cached_tokens=usage.cached_tokens if usage else 0,
        cost=call_cost(call),
        latency_ms=None if latency is None else round(latency * 1000),
        cache_hit=call.cache_hit,
        created_at=datetime.fromtimestamp(call.started_at, UTC),
    )


def report_scope(principal: Principal) -> dict[str, str]:
    """The filters a caller's role puts on the reports they read: an admin sees everything,
    an org admin their organization, a team admin their team, a viewer their organization
    (everything when they belong to none)."""
    role = principal.role
    if role == "admin":
        return {}
    if role == "team_admin":
        if not principal.team:
            raise GatewayError(403, "A team admin without a team has no spend to see.")
        return {"team": principal.team}
    if principal.org:
        return {"org": principal.org}
    if role == "org_admin":
        raise GatewayError(403, "An organization admin without an organization has no spend.")
    return {}


def _date(request: Request, name: str, default: date) -> date:
    text = request.query_params.get(name)
    if not text:
        return default
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise GatewayError(
            400, f"'{name}' must be a date like 2026-01-31, got {text!r}.", param=name
        ) from None


async def _report(gateway: Gateway, request: Request, principal: Principal) -> Response:
    from litegate.db.queries.spend import DIMENSIONS, report_csv, report_rows, sum_spend

    params = request.query_params
    by = [name.strip() for name in params.get("group_by", "day").split(",") if name.strip()]
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown or not by:
        raise GatewayError(
            400,
            f"group_by takes one or more of {', '.join(DIMENSIONS)} (comma-separated).",
            param="group_by",
        )
    end = _date(request, "end", datetime.now(UTC).date())
    start = _date(request, "start", end - timedelta(days=_DEFAULT_DAYS - 1))
    if start > end:
        raise GatewayError(400, "'start' must not be after 'end'.", param="start")
    filters: dict[str, Any] = {
        name: params.get(name) for name in ("key", "user", "team", "org", "model")
    }
    for name, value in report_scope(principal).items():
        if filters[name] not in (None, value):
            raise GatewayError(403, f"You may only read spend of your own {name}.")
        filters[name] = value
    db = await gateway.open_db()
    async with db.session() as session:
        totals = await sum_spend(
            session,
            by=by,
            start=start,
            end=end,
            key_id=filters["key"],
            user_id=filters["user"],
            team_id=filters["team"],
            org_id=filters["org"],
            model=filters["model"],
        )
    if params.get("format") == "csv":
        return Response(
            report_csv(totals, by),
            media_type="text/csv",
            headers={"content-disposition": 'attachment; filename="spend.csv"'},
        )
    rows = report_rows(totals, by)
    return JSONResponse(
        {
            "object": "list",
            "group_by": by,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "filters": {k: v for k, v in filters.items() if v is not None},
            "total_cost": float(sum((t.cost for t in totals), Decimal(0))),
            "total_requests": sum(t.requests for t in totals),
            "data": rows,
        }
    )
