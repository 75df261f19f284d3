"""Organizations, teams and users: create, get, list, update, delete."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Base, Organization, Role, Team, User, VirtualKey
from .fields import apply_fields
from .pages import Page, keyset_page

__all__ = [
    "ORG_FIELDS",
    "TEAM_FIELDS",
    "USER_FIELDS",
    "create_org",
    "create_team",
    "create_user",
    "delete_org",
    "delete_team",
    "delete_user",
    "dependents",
    "get_org",
    "get_team",
    "get_user",
    "list_orgs",
    "list_teams",
    "list_users",
    "update_org",
    "update_team",
    "update_user",
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


async def update_org(session: AsyncSession, org_id: str, **fields: Any) -> Organization | None:
    """Set `fields` (`name` or names from ORG_FIELDS); None when there is no such org."""
    return await _update(session, await get_org(session, org_id), ORG_FIELDS | {"name"}, fields)


async def update_team(session: AsyncSession, team_id: str, **fields: Any) -> Team | None:
    """Set `fields` (`name` or names from TEAM_FIELDS); None when there is no such team."""
    return await _update(session, await get_team(session, team_id), TEAM_FIELDS | {"name"}, fields)


async def update_user(session: AsyncSession, user_id: str, **fields: Any) -> User | None:
    """Set `fields` (`role` or names from USER_FIELDS); None when there is no such user."""
    if "role" in fields:
        fields = {**fields, "role": Role(fields["role"])}
    return await _update(session, await get_user(session, user_id), USER_FIELDS | {"role"}, fields)


async def _update(
    session: AsyncSession, row: _Row | None, allowed: frozenset[str], fields: dict[str, Any]
) -> _Row | None:
    if row is not None:
        apply_fields(row, allowed, fields)
        await session.flush()
    return row


_Row = TypeVar("_Row", bound=Base)

#: What refers to a row of each table, so it can't be deleted while they exist (revoked
#: keys don't count: deleting their team or user detaches them).
_REFERRERS: dict[type[Base], tuple[tuple[type[Base], Any], ...]] = {
    Organization: ((Team, Team.org_id), (User, User.org_id)),
    Team: ((User, User.team_id), (VirtualKey, VirtualKey.team_id)),
    User: ((VirtualKey, VirtualKey.user_id),),
}


async def dependents(session: AsyncSession, row: Organization | Team | User) -> dict[str, int]:
    """How many rows of each table refer to `row` (by table name; only non-zero counts)."""
    found = {}
    for table, column in _REFERRERS[type(row)]:
        query = select(func.count()).select_from(table).where(column == row.id)
        if table is VirtualKey:
            query = query.where(VirtualKey.revoked_at.is_(None))
        count = await session.scalar(query)
        if count:
            found[table.__tablename__] = int(count)
    return found


async def delete_org(session: AsyncSession, org_id: str) -> bool:
    """Delete the org (the caller checks `dependents` first); False when not found."""
    return await _delete(session, await get_org(session, org_id))


async def delete_team(session: AsyncSession, team_id: str) -> bool:
    """Delete the team; its revoked keys lose their team (the spend ledger keeps its id)."""
    await _detach_revoked(session, VirtualKey.team_id, team_id)
    return await _delete(session, await get_team(session, team_id))


async def delete_user(session: AsyncSession, user_id: str) -> bool:
    """Delete the user; its revoked keys lose their owner (the spend ledger keeps its id)."""
    await _detach_revoked(session, VirtualKey.user_id, user_id)
    return await _delete(session, await get_user(session, user_id))


async def _detach_revoked(session: AsyncSession, column: Any, row_id: str) -> None:
    await session.execute(
        update(VirtualKey)
        .where(column == row_id, VirtualKey.revoked_at.is_not(None))
        .values({column.key: None})
        .execution_options(synchronize_session="fetch")
    )


async def _delete(session: AsyncSession, row: Base | None) -> bool:
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True
