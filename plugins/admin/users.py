"""`/admin/v1/users`: users and their roles. A caller gives at most its own role, places
users only within its scope, and changes only users whose role is not above its own."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from litegate import GatewayError, Principal
from litegate.db import Role, User, queries
from litegate.db.queries import Page, snapshot

from .context import Admin, path_id, respond
from .operation import Operation
from .rbac import Owner, Scope, check_role_grant
from .schema import BUDGET, ID, METADATA, TIMESTAMPS, Field, dump, object_schema, validate

__all__ = ["OPERATIONS", "SCHEMAS", "USER_FIELDS"]

USER_FIELDS = (
    *ID,
    Field("email", "string", "The user's email address (unique).", max_length=320),
    Field("name", "string", "The user's name."),
    Field("org_id", "id", "The user's organization (default: its team's).", max_length=64),
    Field("team_id", "id", "The user's team.", max_length=64),
    Field("role", "role", "What the user may do (default member).", nullable=False),
    *METADATA,
    *BUDGET,
    *TIMESTAMPS,
)

SCHEMAS = {
    "User": object_schema(USER_FIELDS, output=True),
    "UserCreate": object_schema(USER_FIELDS, output=False),
    "UserUpdate": object_schema(USER_FIELDS, output=False, partial=True),
}


async def _placed(
    admin: Admin, session: AsyncSession, principal: Principal, values: dict[str, Any]
) -> Owner:
    """Check where the user would belong; fill in its org from its team."""
    owner = await admin.place(session, org_id=values.get("org_id"), team_id=values.get("team_id"))
    team_id = values.get("team_id")
    if team_id is not None:
        team = await queries.get_team(session, team_id)
        if team is not None and team.org_id is not None and team.org_id != owner.org:
            raise GatewayError(
                400,
                "'team_id': the team belongs to another organization than 'org_id'.",
                code="invalid_value",
                param="team_id",
            )
    values["org_id"] = owner.org
    admin.within_scope(principal, owner, "user")
    return owner


async def _create_user(admin: Admin, request: Request, principal: Principal) -> Response:
    values = validate(await admin.body(request), USER_FIELDS, partial=False)
    if principal.role == "org_admin" and "team_id" not in values:
        values.setdefault("org_id", principal.org)
    if principal.role == "team_admin":
        values.setdefault("team_id", principal.team)
    values.setdefault("role", Role.MEMBER)
    check_role_grant(principal, values["role"])
    async with (await admin.db()).session() as session:
        await _placed(admin, session, principal, values)
        rights = await admin.rights(session, principal)
        values = rights.check(values, fill=True, names=("max_budget",))
        user = await queries.create_user(session, **values)
        await admin.audit(
            session, principal, "user.create", user, before=None, after=snapshot(user),
            org_id=user.org_id,
        )  # fmt: skip
        shown = dump(user, USER_FIELDS)
    return respond(shown, 201)


async def _get_user(admin: Admin, request: Request, principal: Principal) -> Response:
    user_id = path_id(request, "user_id")
    async with (await admin.db()).session() as session:
        user = await queries.get_user(session, user_id)
        await admin.reachable(session, principal, user, "user", user_id)
    return respond(dump(user, USER_FIELDS))


async def _list_users(admin: Admin, request: Request, principal: Principal) -> Response:
    cursor, limit = admin.page_args(request)
    wanted = admin.filters(request, "org_id", "team_id")
    scope = Scope.of(principal)
    async with (await admin.db()).session() as session:
        if scope.level in ("org", "team"):
            name = f"{scope.level}_id"
            if wanted.get(name, scope.id) != scope.id:
                return admin.listing(Page([], None), USER_FIELDS)
            wanted[name] = scope.id  # type: ignore[assignment]  # set for these levels
        if scope.level in ("all", "org", "team"):
            page = await queries.list_users(session, cursor=cursor, limit=limit, **wanted)
        elif scope.level == "user" and scope.id and cursor is None:
            user = await queries.get_user(session, scope.id)
            found = user is not None and all(getattr(user, k) == v for k, v in wanted.items())
            page = Page([user] if found else [], None)
        else:
            page = Page([], None)
    return admin.listing(page, USER_FIELDS)


async def _writable(
    admin: Admin, session: AsyncSession, principal: Principal, user_id: str
) -> User:
    user: User = await admin.reachable(
        session, principal, await queries.get_user(session, user_id), "user", user_id
    )
    check_role_grant(principal, user.role.value)  # no changing those above you
    return user


async def _update_user(admin: Admin, request: Request, principal: Principal) -> Response:
    user_id = path_id(request, "user_id")
    values = validate(await admin.body(request), USER_FIELDS, partial=True)
    if "role" in values:
        check_role_grant(principal, values["role"])
    async with (await admin.db()).session() as session:
        user = await _writable(admin, session, principal, user_id)
        before = snapshot(user)
        if "org_id" in values or "team_id" in values:
            moved = {
                "org_id": values.get("org_id", user.org_id if "team_id" not in values else None),
                "team_id": values.get("team_id", user.team_id),
            }
            await _placed(admin, session, principal, moved)
            values.update(moved)
        rights = await admin.rights(session, principal)
        values = rights.check(values, fill=False, names=("max_budget",))
        await queries.update_user(session, user.id, **values)
        await admin.audit(
            session, principal, "user.update", user, before=before, after=snapshot(user),
            org_id=user.org_id,
        )  # fmt: skip
        shown = dump(user, USER_FIELDS)
    await admin.announce_key_change()  # their keys carry these settings
    return respond(shown)


async def _delete_user(admin: Admin, request: Request, principal: Principal) -> Response:
    user_id = path_id(request, "user_id")
    async with (await admin.db()).session() as session:
        user = await _writable(admin, session, principal, user_id)
        await admin.refuse_if_referenced(session, user, "user")
        before = snapshot(user)
        await queries.delete_user(session, user.id)
        await admin.audit(
            session, principal, "user.delete", user, before=before, after=None,
            org_id=user.org_id,
        )  # fmt: skip
    await admin.announce_key_change()
    return respond({"id": user_id, "object": "user", "deleted": True})


OPERATIONS = (
    Operation("POST", "/users", "users.create", _create_user, "Create a user.",
              request="UserCreate", response="User", status=201),
    Operation("GET", "/users", "users.list", _list_users, "List the users in the caller's scope.",
              response="UserList", query=("org_id", "team_id"), paged=True),
    Operation("GET", "/users/{user_id}", "users.read", _get_user, "Read a user.",
              response="User"),
    Operation("PATCH", "/users/{user_id}", "users.update", _update_user,
              "Change a user (role, team, budget, ...).", request="UserUpdate", response="User"),
    Operation("DELETE", "/users/{user_id}", "users.delete", _delete_user,
              "Delete a user that has no usable keys left.", response="Deleted"),
)  # fmt: skip
