"""The request log: insert rows in batches, list them with filters, delete old ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import RequestLogRow
from .pages import Page, keyset_page

__all__ = ["delete_requests_before", "insert_requests", "list_requests"]


async def insert_requests(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows in one statement (column names as keys)."""
    if rows:
        await session.execute(insert(RequestLogRow), list(rows))


async def list_requests(
    session: AsyncSession,
    *,
    model: str | None = None,
    status: int | None = None,
    status_class: int | None = None,
    key_id: str | None = None,
    team_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page[RequestLogRow]:
    """Newest first. `status_class` 4 means 400-499; `since` inclusive, `until` exclusive."""
    query = select(RequestLogRow)
    if model is not None:
        query = query.where(RequestLogRow.model == model)
    if status is not None:
        query = query.where(RequestLogRow.status == status)
    if status_class is not None:
        query = query.where(
            RequestLogRow.status >= status_class * 100,
            RequestLogRow.status < status_class * 100 + 100,
        )
    if key_id is not None:
        query = query.where(RequestLogRow.key_id == key_id)
    if team_id is not None:
        query = query.where(RequestLogRow.team_id == team_id)
    if since is not None:
        query = query.where(RequestLogRow.at >= since)
    if until is not None:
        query = query.where(RequestLogRow.at < until)
    return await keyset_page(
        session, query, (RequestLogRow.id,), cursor=cursor, limit=limit, descending=True
    )


async def delete_requests_before(session: AsyncSession, cutoff: datetime) -> int:
    """Delete the rows of calls started before `cutoff`; returns how many."""
    result = await session.execute(delete(RequestLogRow).where(RequestLogRow.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
