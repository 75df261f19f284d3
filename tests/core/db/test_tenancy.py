"""Organizations, teams and users: create, get, list with filters and pages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from litegate.db import BudgetPeriod, Role, queries


async def test_create_and_get_each(db):
    async with db.session() as session:
        org = await queries.create_org(
            session, name="acme", max_budget=Decimal(100), budget_period=BudgetPeriod.DAILY
        )
        team = await queries.create_team(
            session, name="ml", org_id=org.id, allowed_models=["gpt-4o"], rpm_limit=100
        )
        user = await queries.create_user(
            session,
            email="ada@example.com",
            name="Ada",
            org_id=org.id,
            team_id=team.id,
            role=Role.TEAM_ADMIN,
            meta={"sub": "jwt-subject"},
        )
    async with db.session() as session:
        loaded_org = await queries.get_org(session, org.id)
        loaded_team = await queries.get_team(session, team.id)
        loaded_user = await queries.get_user(session, user.id)
        assert await queries.get_org(session, "missing") is None
        assert await queries.get_team(session, "missing") is None
        assert await queries.get_user(session, "missing") is None
    assert loaded_org is not None and loaded_org.max_budget == Decimal(100)
    assert loaded_org.budget_period is BudgetPeriod.DAILY
    assert loaded_team is not None
    assert (loaded_team.org_id, loaded_team.allowed_models, loaded_team.rpm_limit) == (
        org.id,
        ["gpt-4o"],
        100,
    )
    assert loaded_user is not None
    assert (loaded_user.team_id, loaded_user.role, loaded_user.meta) == (
        team.id,
        Role.TEAM_ADMIN,
        {"sub": "jwt-subject"},
    )


async def test_roles_given_as_strings(db):
    async with db.session() as session:
        user = await queries.create_user(session, role="viewer")
        default = await queries.create_user(session)
    assert user.role is Role.VIEWER
    assert default.role is Role.MEMBER


async def test_unknown_fields_are_refused(db):
    with pytest.raises(TypeError, match=r"no settable field.*rpm_limit"):
        async with db.session() as session:
            await queries.create_org(session, name="x", rpm_limit=1)


async def test_lists_filter_and_page(db):
    async with db.session() as session:
        acme = await queries.create_org(session, name="acme")
        other = await queries.create_org(session, name="other")
        teams = [await queries.create_team(session, name=f"t{i}", org_id=acme.id) for i in range(5)]
        await queries.create_team(session, name="elsewhere", org_id=other.id)
        users = [
            await queries.create_user(session, org_id=acme.id, team_id=teams[0].id),
            await queries.create_user(session, org_id=acme.id, team_id=teams[1].id),
            await queries.create_user(session, org_id=other.id),
        ]
    async with db.session() as session:
        orgs = await queries.list_orgs(session)
        first = await queries.list_teams(session, org_id=acme.id, limit=3)
        assert first.next_cursor is not None
        rest = await queries.list_teams(session, org_id=acme.id, cursor=first.next_cursor)
        in_acme = await queries.list_users(session, org_id=acme.id)
        in_team = await queries.list_users(session, team_id=teams[1].id)
        everyone = await queries.list_users(session, limit=2)
    assert [org.name for org in orgs.items] == ["acme", "other"] and orgs.next_cursor is None
    assert {t.id for t in first.items + rest.items} == {t.id for t in teams}
    assert len(first.items) == 3 and len(rest.items) == 2 and rest.next_cursor is None
    assert {u.id for u in in_acme.items} == {users[0].id, users[1].id}
    assert [u.id for u in in_team.items] == [users[1].id]
    assert len(everyone.items) == 2 and everyone.next_cursor is not None
