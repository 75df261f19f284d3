"""Keyset pagination: stable pages however many rows are added while someone pages through.

Each page is ordered by an immutable, unique tuple of columns; the cursor is the last row's
values, opaque to clients (base64 of JSON), so the next page starts strictly after it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

__all__ = ["MAX_PAGE_SIZE", "Page", "keyset_page"]

T = TypeVar("T")

MAX_PAGE_SIZE = 1000


@attrs.frozen
class Page(Generic[T]):
    items: list[T]
    #: Pass back as `cursor` for the next page; None on the last page.
    next_cursor: str | None


async def keyset_page(
    session: AsyncSession,
    query: Select[T],
    order: Sequence[InstrumentedAttribute[Any]],
    *,
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> Page[T]:
    """One page of `query`'s entities ordered by `order` (the last column must be unique)."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    if cursor is not None:
        query = query.where(_after(order, _decode(cursor, order), descending))
    query = query.order_by(*(column.desc() if descending else column.asc() for column in order))
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, _encode([getattr(rows[-1], column.key) for column in order]))


def _after(
    order: Sequence[InstrumentedAttribute[Any]], values: list[Any], descending: bool
) -> ColumnElement[bool]:
    # (a, b) > (x, y)  ==  a > x OR (a = x AND b > y), spelled out for every database.
    clauses = []
    for index, column in enumerate(order):
        equal = [order[i] == values[i] for i in range(index)]
        beyond = column < values[index] if descending else column > values[index]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def _encode(values: list[Any]) -> str:
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _decode(cursor: str, order: Sequence[InstrumentedAttribute[Any]]) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError
        return [
            datetime.fromisoformat(value)
            if column.type.python_type is datetime
            else _checked(value, column.type.python_type)
            for column, value in zip(order, values, strict=True)
        ]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None


def _checked(value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError
    return value
