"""The spend ledger: batch inserts, and sums by key / team / model / day over a range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from litegate.db import SpendRow, queries
from litegate.db.queries import SpendEntry

DAY1 = datetime(2025, 1, 30, 10, 0, tzinfo=UTC)
DAY2 = datetime(2025, 1, 31, 23, 30, tzinfo=UTC)


def _entry(n: int, *, at: datetime, key: str, team: str, model: str, cost: str) -> SpendEntry:
    return SpendEntry(
        request_id=f"req-{n}",
        alias=model,
        key_id=key,
        team_id=team,
        user_id="u1",
        org_id="o1",
        deployment=f"{model}#0",
        provider="openai",
        prompt_tokens=100,
        completion_tokens=20,
        cached_tokens=5,
        cost=Decimal(cost),
        latency_ms=250,
        created_at=at,
    )


LEDGER = [
    _entry(1, at=DAY1, key="k1", team="t1", model="gpt-4o", cost="0.0000150000"),
    _entry(2, at=DAY1, key="k1", team="t1", model="gpt-4o", cost="0.1234567891"),
    _entry(3, at=DAY1, key="k2", team="t2", model="mini", cost="0.0000000001"),
    _entry(4, at=DAY2, key="k1", team="t1", model="mini", cost="1.5"),
    _entry(5, at=DAY2 + timedelta(days=1), key="k2", team="t2", model="gpt-4o", cost="9"),
]


@pytest.fixture
async def ledger(db):
    async with db.session() as session:
        assert await queries.insert_spend(session, LEDGER) == len(LEDGER)
        assert await queries.insert_spend(session, []) == 0
    return db


async def test_rows_round_trip(ledger):
    async with ledger.session() as session:
        rows = list(await session.scalars(select(SpendRow).order_by(SpendRow.id)))
    assert [row.request_id for row in rows] == [f"req-{n}" for n in range(1, 6)]
    first = rows[0]
    assert first.cost == Decimal("0.0000150000")
    assert (first.prompt_tokens, first.completion_tokens, first.cached_tokens) == (100, 20, 5)
    assert (first.status, first.cache_hit, first.latency_ms) == ("success", False, 250)
    assert first.created_at == DAY1 and first.day == date(2025, 1, 30)


async def test_day_is_the_utc_date(db):
    late_evening_in_new_york = datetime(2025, 1, 30, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    async with db.session() as session:
        await queries.insert_spend(
            session, [SpendEntry(request_id="r", alias="m", created_at=late_evening_in_new_york)]
        )
        row = await session.scalar(select(SpendRow))
    assert row is not None and row.day == date(2025, 1, 31)


async def test_sum_by_key_over_a_range(ledger):
    async with ledger.session() as session:
        totals = await queries.sum_spend(
            session, by=["key"], start=date(2025, 1, 30), end=date(2025, 1, 31)
        )
    assert [(t.group, t.cost, t.requests) for t in totals] == [
        ({"key": "k1"}, Decimal("1.6234717891"), 3),
        ({"key": "k2"}, Decimal("0.0000000001"), 1),
    ]
    assert totals[0].prompt_tokens == 300 and totals[0].completion_tokens == 60
    assert totals[0].cached_tokens == 15


async def test_sum_by_team_model_and_day(ledger):
    async with ledger.session() as session:
        by_team = await queries.sum_spend(
            session, by=["team"], start=date(2025, 1, 1), end=date(2025, 12, 31)
        )
        by_model_day = await queries.sum_spend(
            session, by=["model", "day"], start=date(2025, 1, 30), end=date(2025, 2, 1)
        )
        one_team = await queries.sum_spend(
            session, by=["day"], start=date(2025, 1, 1), end=date(2025, 12, 31), team_id="t2"
        )
        overall = await queries.sum_spend(
            session, by=[], start=date(2025, 1, 1), end=date(2025, 12, 31)
        )
    assert [(t.group["team"], t.cost) for t in by_team] == [
        ("t1", Decimal("1.6234717891")),
        ("t2", Decimal("9.0000000001")),
    ]
    assert [(t.group, t.cost) for t in by_model_day] == [
        ({"model": "gpt-4o", "day": date(2025, 1, 30)}, Decimal("0.1234717891")),
        ({"model": "gpt-4o", "day": date(2025, 2, 1)}, Decimal("9")),
        ({"model": "mini", "day": date(2025, 1, 30)}, Decimal("0.0000000001")),
        ({"model": "mini", "day": date(2025, 1, 31)}, Decimal("1.5")),
    ]
    assert [(t.group, t.cost) for t in one_team] == [
        ({"day": date(2025, 1, 30)}, Decimal("0.0000000001")),
        ({"day": date(2025, 2, 1)}, Decimal("9")),
    ]
    [total] = overall
    assert total.cost == Decimal("10.6234717892") and total.requests == 5


async def test_sums_are_exact_to_the_scale_over_many_rows(db):
    entries = [
        SpendEntry(request_id=f"r{i}", alias="m", cost=Decimal("0.0000010001"), created_at=DAY1)
        for i in range(2000)
    ]
    async with db.session() as session:
        await queries.insert_spend(session, entries)
        [total] = await queries.sum_spend(session, by=["model"], start=DAY1.date(), end=DAY1.date())
    assert total.cost == Decimal("0.0020002000") and total.requests == 2000


async def test_an_empty_range_and_bad_dimensions(ledger):
    async with ledger.session() as session:
        assert (
            await queries.sum_spend(
                session, by=["key"], start=date(2024, 1, 1), end=date(2024, 1, 31)
            )
            == []
        )
        with pytest.raises(ValueError, match="can't group spend by"):
            await queries.sum_spend(session, by=["colour"], start=DAY1.date(), end=DAY1.date())  # type: ignore[list-item]
        hostile = await queries.sum_spend(
            session,
            by=["key"],
            start=date(2025, 1, 1),
            end=date(2025, 12, 31),
            team_id="' OR 1=1 --",
        )
    assert hostile == []


async def test_inserts_are_idempotent_on_the_request_id(db):
    # A batch written again (its commit's answer was lost) adds nothing.
    async with db.session() as session:
        await queries.insert_spend(session, LEDGER[:3])
    async with db.session() as session:
        await queries.insert_spend(session, LEDGER)
    async with db.session() as session:
        rows = (await session.execute(select(SpendRow))).scalars().all()
    assert sorted(row.request_id for row in rows) == [f"req-{n}" for n in range(1, 6)]


async def test_total_spend_and_reports(db, ledger):
    from litegate.db.queries.spend import report_csv, report_rows, total_spend

    async with db.session() as session:
        assert await total_spend(session, team_id="t1") == Decimal("1.6234717891")
        assert await total_spend(session, team_id="t1", start=DAY2.date()) == Decimal("1.5")
        totals = await queries.sum_spend(
            session, by=["team", "day"], start=DAY1.date(), end=DAY2.date()
        )
    rows = report_rows(totals, ["team", "day"])
    assert rows[0] == {
        "team": "t1",
        "day": "2025-01-30",
        "cost": 0.1234717891,
        "requests": 2,
        "prompt_tokens": 200,
        "completion_tokens": 40,
        "cached_tokens": 10,
    }
    assert report_csv(totals, ["team", "day"]).splitlines() == [
        "team,day,cost,requests,prompt_tokens,completion_tokens,cached_tokens",
        "t1,2025-01-30,0.1234717891,2,200,40,10",
        "t1,2025-01-31,1.5,1,100,20,5",
        "t2,2025-01-30,0.0000000001,1,100,20,5",
    ]
