"""The portable types behave the same on both databases, and constraints hold on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from litegate.db import BudgetPeriod, Organization, Role, Team, User, VirtualKey, queries

PARIS = timezone(timedelta(hours=2))


async def test_timestamps_are_stored_and_read_in_utc(db):
    local = datetime(2025, 6, 1, 14, 30, 15, 123456, tzinfo=PARIS)
    async with db.session() as session:
        key, _ = await queries.create_key(session, expires_at=local)
    async with db.session() as session:
        loaded = await queries.get_key(session, key.id)
        assert loaded is not None
        assert loaded.expires_at == local
        assert loaded.expires_at.tzinfo is UTC
        assert loaded.expires_at.hour == 12
        assert loaded.created_at.tzinfo is UTC
        # Comparisons in SQL agree with Python's, across offsets.
        found = await session.scalar(
            select(VirtualKey.id).where(
                VirtualKey.expires_at > datetime(2025, 6, 1, 12, 30, 15, tzinfo=UTC)
            )
        )
        assert found == key.id


async def test_naive_datetimes_are_refused(db):
    with pytest.raises(StatementError, match="timezone-aware"):
        async with db.session() as session:
            await queries.create_key(session, expires_at=datetime(2025, 1, 1))


async def test_json_money_and_enums_round_trip(db):
    meta = {"owner": "ünïcode ✓", "nested": {"list": [1, 2.5, None, True]}}
    async with db.session() as session:
        team = await queries.create_team(
            session,
            name="t",
            meta=meta,
            allowed_models=["gpt-4o", "claude-*"],
            max_budget=Decimal("12.3456789012"),
            budget_period=BudgetPeriod.MONTHLY,
        )
        plain = await queries.create_team(session, name="plain")
    async with db.session() as session:
        loaded = await queries.get_team(session, team.id)
        assert loaded is not None
        assert loaded.meta == meta
        assert loaded.allowed_models == ["gpt-4o", "claude-*"]
        assert loaded.max_budget == Decimal("12.3456789012")
        assert loaded.budget_period is BudgetPeriod.MONTHLY
        unlimited = await queries.get_team(session, plain.id)
        assert unlimited is not None
        assert unlimited.allowed_models is None
        assert unlimited.meta == {}
        # "No model list" is SQL NULL, not JSON null, so queries can tell.
        nulls = await session.scalars(select(Team.name).where(Team.allowed_models.is_(None)))
        assert list(nulls) == ["plain"]


async def test_roles_are_checked_by_the_database(db):
    async with db.session() as session:
        user = await queries.create_user(session, email="a@example.com", role=Role.TEAM_ADMIN)
    assert user.role is Role.TEAM_ADMIN
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await session.execute(
                text(
                    "INSERT INTO users (id, role, metadata, created_at, updated_at) "
                    "VALUES (:id, :role, '{}', :now, :now)"
                ),
                {"id": "x", "role": "superuser", "now": datetime.now(UTC).replace(tzinfo=None)},
            )
    with pytest.raises(ValueError, match="superuser"):
        async with db.session() as session:
            await queries.create_user(session, role="superuser")


async def test_unique_and_foreign_keys_hold(db):
    async with db.session() as session:
        await queries.create_org(session, name="acme")
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await queries.create_org(session, name="acme")
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await queries.create_team(session, name="t", org_id="no-such-org")
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await queries.create_key(session, secret="same")
            await queries.create_key(session, secret="same")
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await queries.create_user(session, email="dup@example.com")
            await queries.create_user(session, email="dup@example.com")


async def test_team_names_are_unique_within_an_org(db):
    async with db.session() as session:
        acme = await queries.create_org(session, name="acme")
        other = await queries.create_org(session, name="other")
        await queries.create_team(session, name="ml", org_id=acme.id)
        await queries.create_team(session, name="ml", org_id=other.id)
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await queries.create_team(session, name="ml", org_id=acme.id)


async def test_updated_at_moves_on_update(db):
    async with db.session() as session:
        org = await queries.create_org(session, name="acme")
        created = org.updated_at
    async with db.session() as session:
        loaded = await session.get(Organization, org.id)
        assert loaded is not None
        loaded.meta = {"tier": "gold"}
    async with db.session() as session:
        reloaded = await session.get(Organization, org.id)
        assert reloaded is not None
        assert reloaded.updated_at >= created
        assert reloaded.created_at == org.created_at
        assert reloaded.meta == {"tier": "gold"}


def test_user_defaults_to_member():
    assert User.__table__.c.role.default.arg is Role.MEMBER
