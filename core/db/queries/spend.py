"""The spend ledger: insert calls in batches, sum them for reports."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import attrs
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import SpendRow, utcnow

__all__ = [
    "DIMENSIONS",
    "REPORT_COLUMNS",
    "Dimension",
    "SpendEntry",
    "SpendTotal",
    "insert_spend",
    "report_csv",
    "report_rows",
    "sum_spend",
    "total_spend",
]

Dimension = Literal["key", "user", "team", "org", "model", "deployment", "provider", "day"]

#: What reports may group by, and the ledger column each one reads.
DIMENSIONS: dict[str, Any] = {
    "key": SpendRow.key_id,
    "user": SpendRow.user_id,
    "team": SpendRow.team_id,
    "org": SpendRow.org_id,
    "model": SpendRow.alias,
    "deployment": SpendRow.deployment,
    "provider": SpendRow.provider,
    "day": SpendRow.day,
}


@attrs.frozen(kw_only=True)
class SpendEntry:
    """One finished call, as the cost plugin hands it to the ledger writer."""

    request_id: str
    alias: str
    status: str = "success"
    key_id: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    org_id: str | None = None
    deployment: str | None = None
    provider: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_ms: int | None = None
    cache_hit: bool = False
    created_at: datetime = attrs.field(factory=utcnow)


@attrs.frozen
class SpendTotal:
    #: The dimensions grouped by, e.g. {"team": "t1", "day": date(2025, 1, 31)}.
    group: dict[str, Any]
    cost: Decimal
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


async def insert_spend(session: AsyncSession, entries: Sequence[SpendEntry]) -> int:
    """Insert `entries` in one statement batch; return how many were given.

    Idempotent: an entry whose request id is already in the ledger is skipped, so a batch
    can be written again after a failure that left it unclear whether it committed.
    """
    if not entries:
        return 0
    rows = []
    for entry in entries:
        row = attrs.asdict(entry)
        row["day"] = entry.created_at.astimezone(UTC).date()
        rows.append(row)
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(SpendRow).on_conflict_do_nothing(index_elements=["request_id"])
    await session.execute(statement, rows)
    return len(rows)


async def sum_spend(
    session: AsyncSession,
    *,
    by: Sequence[Dimension],
    start: date,
    end: date,
    key_id: str | None = None,
    user_id: str | None = None,
    team_id: str | None = None,
    org_id: str | None = None,
    model: str | None = None,
) -> list[SpendTotal]:
    """Totals per group over UTC days `start` to `end`, both included, ordered by group."""
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown:
        raise ValueError(f"can't group spend by {unknown}; choose from {', '.join(DIMENSIONS)}")
    groups = [DIMENSIONS[name] for name in by]
    query = (
        select(
            *groups,
            func.coalesce(func.sum(SpendRow.cost), 0),
            func.count(SpendRow.id),
            func.coalesce(func.sum(SpendRow.prompt_tokens), 0),
            func.coalesce(func.sum(SpendRow.completion_tokens), 0),
            func.coalesce(func.sum(SpendRow.cached_tokens), 0),
        )
        .where(SpendRow.day >= start, SpendRow.day <= end)
        .group_by(*groups)
        .order_by(*groups)
    )
    filters = {"key": key_id, "user": user_id, "team": team_id, "org": org_id, "model": model}
    for name, value in filters.items():
        if value is not None:
            query = query.where(DIMENSIONS[name] == value)
    result = await session.execute(query)
    totals = []
    for row in result.all():
        values = tuple(row)
        cost, requests, prompt, completion, cached = values[len(groups) :]
        totals.append(
            SpendTotal(
                group=dict(zip(by, values[: len(groups)], strict=True)),
                cost=_money(cost),
                requests=int(requests),
                prompt_tokens=int(prompt),
                completion_tokens=int(completion),
                cached_tokens=int(cached),
            )
        )
    return totals


def _money(value: Any) -> Decimal:
    # SQLite sums its doubles; round to the column's scale so both databases agree.
    return Decimal(value).quantize(Decimal("1e-10"))


#: The columns of a report row after its group columns.
REPORT_COLUMNS = ("cost", "requests", "prompt_tokens", "completion_tokens", "cached_tokens")


def report_rows(totals: Sequence[SpendTotal], by: Sequence[str]) -> list[dict[str, Any]]:
    """`totals` as flat rows for JSON: the group's columns, then `REPORT_COLUMNS`; dates
    as ISO text, cost as a number of dollars."""
    rows = []
    for total in totals:
        row: dict[str, Any] = {}
        for name in by:
            value = total.group.get(name)
            row[name] = value.isoformat() if isinstance(value, date) else value
        row["cost"] = float(total.cost)
        row["requests"] = total.requests
        row["prompt_tokens"] = total.prompt_tokens
        row["completion_tokens"] = total.completion_tokens
        row["cached_tokens"] = total.cached_tokens
        rows.append(row)
    return rows


def report_csv(totals: Sequence[SpendTotal], by: Sequence[str]) -> str:
    """`totals` as CSV with a header line; cost as exact decimal text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*by, *REPORT_COLUMNS])
    for total in totals:
        group = []
        for name in by:
            value = total.group.get(name)
            group.append(value.isoformat() if isinstance(value, date) else value or "")
        cost = format(total.cost.normalize(), "f")
        writer.writerow(
            [
                *group,
                cost,
                total.requests,
                total.prompt_tokens,
                total.completion_tokens,
                total.cached_tokens,
            ]
        )
    return out.getvalue()


async def total_spend(
    session: AsyncSession,
    *,
    start: date | None = None,
    end: date | None = None,
    key_id: str | None = None,
    user_id: str | None = None,
    team_id: str | None = None,
    org_id: str | None = None,
) -> Decimal:
    """What one key / user / team / organization spent over UTC days `start` to `end`
    (both included; None: since the beginning / until now)."""
    totals = await sum_spend(
        session,
        by=[],
        start=start or date.min,
        end=end or date.max,
        key_id=key_id,
        user_id=user_id,
        team_id=team_id,
        org_id=org_id,
    )
    return totals[0].cost if totals else Decimal(0)
