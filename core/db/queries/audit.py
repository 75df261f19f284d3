"""The audit log: append an entry (secrets masked), list entries newest first."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import AuditEntry, Base, utcnow
from .pages import Page, keyset_page

__all__ = ["MASK", "SECRET_FIELDS", "append_audit", "list_audit", "mask_secrets", "snapshot"]

MASK = "********"

#: Field names whose values never reach the audit log (compared case-insensitively).
SECRET_FIELDS = frozenset(
    {
        "api_key",
        "authorization",
        "key",
        "key_hash",
        "master_key",
        "password",
        "secret",
        "token",
    }
)


def mask_secrets(value: Any) -> Any:
    """`value` with every secret-named field, at any depth, replaced by MASK."""
    if isinstance(value, Mapping):
        return {
            name: MASK if str(name).lower() in SECRET_FIELDS else mask_secrets(item)
            for name, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(item) for item in value]
    return value


def snapshot(row: Base) -> dict[str, Any]:
    """A row's columns as JSON-ready values (for `before` / `after`)."""
    mapper = inspect(type(row))
    return {attr.key: _plain(getattr(row, attr.key)) for attr in mapper.column_attrs}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


async def append_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    org_id: str | None = None,
) -> AuditEntry:
    """`org_id`: the organization the target belongs to (what an org_admin may list)."""
    entry = AuditEntry(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        org_id=org_id,
        before=None if before is None else mask_secrets(before),
        after=None if after is None else mask_secrets(after),
        at=at or utcnow(),
    )
    session.add(entry)
    await session.flush()
    return entry


async def list_audit(
    session: AsyncSession,
    *,
    actor: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
    org_id: str | None = None,
) -> Page[AuditEntry]:
    """Newest first (ids grow with every append)."""
    query = select(AuditEntry)
    if org_id is not None:
        query = query.where(AuditEntry.org_id == org_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    return await keyset_page(
        session, query, (AuditEntry.id,), cursor=cursor, limit=limit, descending=True
    )
