"""`request_log`: a row per call in the records database (`[state] db`), for the admin API
and the UI, written off the request path in batches and kept for `retention_days`.

The events only append a small dict to an in-memory queue; a background task inserts the
queue every `flush_interval` (or as soon as it holds `batch_size` rows) in one statement.
``GET /admin/v1/requests`` lists rows newest first, with filters and keyset pagination.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from litegate import Call, Gateway, GatewayError, Principal, hookimpl
from litegate.config_types import Duration

from .access_log import load_redactor, milliseconds, trace_id

__all__ = ["RequestLogPlugin", "row_fields"]

log = logging.getLogger("litegate.request_log")


class RequestLogPlugin:
    """The request log; see docs/observability.md."""

    @attrs.frozen
    class Config:
        #: Rows are written at least this often.
        flush_interval: Duration = Duration(1)
        #: ... or as soon as this many are waiting.
        batch_size: int = attrs.field(default=200, validator=attrs.validators.ge(1))
        #: Rows waiting beyond this (the database is down or slow) are dropped and counted
        #: in the log, so the gateway's memory stays bounded.
        max_queue: int = attrs.field(default=50_000, validator=attrs.validators.ge(1))
        #: Rows older than this many days are deleted (0: keep forever).
        retention_days: float = attrs.field(default=30, validator=attrs.validators.ge(0))
        #: How often old rows are deleted.
        retention_interval: Duration = Duration(3600)
        #: Also store the request's messages, redacted (see `redact`). Off by default:
        #: prompts are often personal data.
        include_bodies: bool = False
        #: Pass stored bodies through the redactor (keys, tokens, e-mail addresses, card
        #: numbers become ``[REDACTED]``).
        redact: bool = True
        #: Another redactor instead of the built-in one: "package.module:function".
        redactor: str | None = None
        #: Roles of API keys that may read ``GET /admin/v1/requests``.
        roles: list[str] = attrs.field(factory=lambda: ["admin", "viewer"])

    def __init__(self, config: Config) -> None:
        self.config = config
        self._redactor = load_redactor(config.redactor) if config.redact else None
        self.queue: deque[dict[str, Any]] = deque()
        self.dropped = [0]  # a counter shared with the background task
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- hooks ---------------------------------------------------------------------------

    @hookimpl
    async def startup(self, gateway: Gateway) -> None:
        db = await gateway.open_db()
        self._tasks.append(asyncio.ensure_future(self._flusher(db)))
        if self.config.retention_days:
            self._tasks.append(asyncio.ensure_future(self._retention(db)))

    @hookimpl
    async def shutdown(self, gateway: Gateway) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.queue:
            await self.flush(await gateway.open_db())

    @hookimpl
    def on_success(self, call: Call) -> None:
        self._append(call, None)

    @hookimpl
    def on_failure(self, call: Call, error: GatewayError) -> None:
        self._append(call, error)

    @hookimpl
    def routes(self, gateway: Gateway) -> list[BaseRoute]:
        from litegate.route_auth import guarded

        async def list_route(request: Request, _principal: Principal) -> Response:
            return await self._list(gateway, request)

        return [
            Route(
                "/admin/v1/requests",
                guarded(gateway, list_route, roles=self.config.roles),
                methods=["GET"],
            )
        ]

    # -- writing -------------------------------------------------------------------------

    def _append(self, call: Call, error: GatewayError | None) -> None:
        if len(self.queue) >= self.config.max_queue:
            self.dropped[0] += 1
            return
        body = None
        if self.config.include_bodies:
            messages = call.request.get("messages") or call.request.get("input")
            body = self._redactor(messages) if self._redactor is not None else messages
        self.queue.append(row_fields(call, error, body))
        if len(self.queue) >= self.config.batch_size:
            self._wake.set()

    async def flush(self, db: Any) -> int:
        """Write every queued row now; returns how many."""
        from litegate.db.queries.requestlog import insert_requests

        rows = [self.queue.popleft() for _ in range(len(self.queue))]
        if rows:
            try:
                async with db.session() as session:
                    await insert_requests(session, rows)
            except BaseException:
                # The database is down (or the write was cut off): the rows go back to the
                # front of the queue, in order, for the next try; past `max_queue` the
                # newest are dropped and counted, never the request path blocked.
                room = max(0, self.config.max_queue - len(self.queue))
                kept = rows[:room]
                self.dropped[0] += len(rows) - len(kept)
                self.queue.extendleft(reversed(kept))
                raise
        return len(rows)

    async def _flusher(self, db: Any) -> None:
        interval = float(self.config.flush_interval)
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            try:
                await self.flush(db)
            except Exception as exc:
                if not failing:  # once per outage, not once per try
                    log.warning(
                        "request log: %d row(s) wait, the database failed: %s",
                        len(self.queue),
                        exc,
                    )
                failing = True
                # Back off while the database is away, up to 5 s between tries.
                await asyncio.sleep(min(5.0, max(interval, 0.2)))
                continue
            if failing:
                log.info("request log: the database is back; queued rows written")
                failing = False
            if self.dropped[0]:
                log.warning("request log: %d rows dropped (queue full)", self.dropped[0])
                self.dropped[0] = 0

    async def _retention(self, db: Any) -> None:
        from litegate.db.queries.requestlog import delete_requests_before

        while True:
            cutoff = datetime.now(UTC) - timedelta(days=self.config.retention_days)
            try:
                async with db.session() as session:
                    deleted = await delete_requests_before(session, cutoff)
                if deleted:
                    log.info("request log: deleted %d rows older than %s", deleted, cutoff)
            except Exception:
                log.exception("request log: deleting old rows failed")
            await asyncio.sleep(float(self.config.retention_interval))

    # -- reading -------------------------------------------------------------------------

    async def _list(self, gateway: Gateway, request: Request) -> Response:
        from litegate.db.queries.requestlog import list_requests

        params = request.query_params
        try:
            filters: dict[str, Any] = {
                "model": params.get("model"),
                "key_id": params.get("key"),
                "team_id": params.get("team"),
                "since": _time(params.get("since"), "since"),
                "until": _time(params.get("until"), "until"),
                "cursor": params.get("cursor"),
                "limit": int(params.get("limit", "100")),
            }
            status = params.get("status")
            if status is not None:
                if len(status) == 3 and status.endswith("xx") and status[0].isdigit():
                    filters["status_class"] = int(status[0])
                else:
                    filters["status"] = int(status)
            async with (await gateway.open_db()).session() as session:
                page = await list_requests(session, **filters)
        except ValueError as exc:
            raise GatewayError(400, f"Invalid query: {exc}", code="invalid_query") from None
        return JSONResponse(
            {"data": [_public(row) for row in page.items], "next_cursor": page.next_cursor}
        )


def row_fields(call: Call, error: GatewayError | None, body: Any = None) -> dict[str, Any]:
    """One call as a request_log row."""
    usage = call.usage
    principal = call.principal
    deployment = call.deployment
    status = call.status or (error.status if error else 200)
    return {
        "at": datetime.fromtimestamp(call.started_at, UTC),
        "request_id": call.id[:128],
        "trace_id": trace_id(call),
        "endpoint": call.endpoint[:32],
        "model": call.alias[:255],
        "deployment": deployment.id if deployment else None,
        "provider": deployment.provider if deployment else None,
        "status": status,
        "error_code": (error.code or error.type)[:64] if error else None,
        "key_id": principal.id[:255] if principal else None,
        "user_id": principal.user if principal else None,
        "team_id": principal.team if principal else None,
        "stream": call.stream,
        "cache_hit": call.cache_hit,
        "latency_ms": milliseconds(call.latency),
        "ttft_ms": milliseconds(call.ttft),
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "cost": None if call.cost is None else Decimal(str(call.cost)),
        "attempts": max(1, len(call.attempts)),
        "body": body,
    }


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "request_id": row.request_id,
        "trace_id": row.trace_id,
        "endpoint": row.endpoint,
        "model": row.model,
        "deployment": row.deployment,
        "provider": row.provider,
        "status": row.status,
        "error_code": row.error_code,
        "key_id": row.key_id,
        "user_id": row.user_id,
        "team_id": row.team_id,
        "stream": row.stream,
        "cache_hit": row.cache_hit,
        "latency_ms": row.latency_ms,
        "ttft_ms": row.ttft_ms,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cost": None if row.cost is None else float(row.cost),
        "attempts": row.attempts,
        "body": row.body,
    }


def _time(value: str | None, name: str) -> datetime | None:
    """ISO 8601 (UTC when no offset) or seconds since the epoch."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be ISO 8601 or epoch seconds, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
