"""Organizations, teams and users: create, get, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Organization, Role, Team, User
from .fields import apply_fields
from .pages import Page, keyset_page

__all__ = [
    "ORG_FIELDS",
    "TEAM_FIELDS",
    "USER_FIELDS",
    "create_org",
    "create_team",
    "create_user",
    "get_org",
    "get_team",
    "get_user",
    "list_orgs",
    "list_teams",
    "list_users",
]

_BUDGET = frozenset({"meta", "max_budget", "budget_period"})
_LIMITS = frozenset({"allowed_models", "rpm_limit", "tpm_limit", "max_parallel"})
ORG_FIELDS = _BUDGET
TEAM_FIELDS = _BUDGET | _LIMITS | {"org_id"}
USER_FIELDS = _BUDGET | {"email", "name", "org_id", "team_id"}


async def create_org(session: AsyncSession, *, name: str, **fields: Any) -> Organization:
    org = Organization(name=name)
    apply_fields(org, ORG_FIELDS, fields)
    session.add(org)
    await session.flush()
    return org


async def create_team(session: AsyncSession, *, name: str, **fields: Any) -> Team:
    team = Team(name=name)
    apply_fields(team, TEAM_FIELDS, fields)
    session.add(team)
    await session.flush()
    return team


async def create_user(session: AsyncSession, *, role: Role = Role.MEMBER, **fields: Any) -> User:
    user = User(role=Role(role))
    apply_fields(user, USER_FIELDS, fields)
    session.add(user)
    await session.flush()
    return user


async def get_org(session: AsyncSession, org_id: str) -> Organization | None:
    return await session.get(Organization, org_id)


async def get_team(session: AsyncSession, team_id: str) -> Team | None:
    return await session.get(Team, team_id)


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def list_orgs(
    session: AsyncSession, *, cursor: str | None = None, limit: int = 100
) -> Page[Organization]:
    order = (Organization.created_at, Organization.id)
    return await keyset_page(session, select(Organization), order, cursor=cursor, limit=limit)


async def list_teams(
    session: AsyncSession,
    *,
    org_id: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page[Team]:
    query = select(Team)
    if org_id is not None:
        query = query.where(Team.org_id == org_id)
    return await keyset_page(session, query, (Team.created_at, Team.id), cursor=cursor, limit=limit)


async def list_users(
    session: AsyncSession,
    *,
    org_id: str | None = None,
    team_id: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page[User]:
    query = select(User)
    if org_id is not None:
        query = query.where(User.org_id == org_id)
    if team_id is not None:
        query = query.where(User.team_id == team_id)
    return await keyset_page(session, query, (User.created_at, User.id), cursor=cursor, limit=limit)
