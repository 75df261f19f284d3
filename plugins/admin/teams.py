"""`/admin/v1/teams`: teams, whose models and limits their keys inherit."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from litegate import Principal
from litegate.db import Team, queries
from litegate.db.queries import Page, snapshot

from .context import Admin, path_id, respond
from .operation import Operation
from .rbac import Scope
from .schema import BUDGET, ID, LIMITS, METADATA, TIMESTAMPS, Field, dump, object_schema, validate

__all__ = ["OPERATIONS", "SCHEMAS", "TEAM_FIELDS"]

TEAM_FIELDS = (
    *ID,
    Field("name", "string", "The team's name, unique within its organization.", required=True),
    Field("org_id", "id", "The organization it belongs to; null: none.", max_length=64),
    *METADATA,
    *LIMITS,
    *BUDGET,
    *TIMESTAMPS,
)

SCHEMAS = {
    "Team": object_schema(TEAM_FIELDS, output=True),
    "TeamCreate": object_schema(TEAM_FIELDS, output=False),
    "TeamUpdate": object_schema(TEAM_FIELDS, output=False, partial=True),
}


async def _create_team(admin: Admin, request: Request, principal: Principal) -> Response:
    values = validate(await admin.body(request), TEAM_FIELDS, partial=False)
    if principal.role == "org_admin":
        values.setdefault("org_id", principal.org)
    async with (await admin.db()).session() as session:
        owner = await admin.place(session, org_id=values.get("org_id"))
        admin.within_scope(principal, owner, "team")
        values = (await admin.rights(session, principal)).check(values, fill=True)
        team = await queries.create_team(session, **values)
        await admin.audit(
            session, principal, "team.create", team, before=None, after=snapshot(team),
            org_id=team.org_id,
        )  # fmt: skip
        shown = dump(team, TEAM_FIELDS)
    return respond(shown, 201)


async def _get_team(admin: Admin, request: Request, principal: Principal) -> Response:
    team_id = path_id(request, "team_id")
    async with (await admin.db()).session() as session:
        team = await queries.get_team(session, team_id)
        await admin.reachable(session, principal, team, "team", team_id)
    return respond(dump(team, TEAM_FIELDS))


async def _list_teams(admin: Admin, request: Request, principal: Principal) -> Response:
    cursor, limit = admin.page_args(request)
    org_id = admin.filters(request, "org_id").get("org_id")
    scope = Scope.of(principal)
    async with (await admin.db()).session() as session:
        if scope.level == "all" or (scope.level == "org" and org_id in (None, scope.id)):
            org_id = scope.id if scope.level == "org" else org_id
            page = await queries.list_teams(session, org_id=org_id, cursor=cursor, limit=limit)
        elif scope.level == "team" and scope.id and cursor is None:
            # The one team it reaches, as a one-item page.
            team = await queries.get_team(session, scope.id)
            found = team is not None and org_id in (None, team.org_id)
            page = Page([team] if found else [], None)
        else:
            page = Page([], None)
    return admin.listing(page, TEAM_FIELDS)


async def _update_team(admin: Admin, request: Request, principal: Principal) -> Response:
    team_id = path_id(request, "team_id")
    values = validate(await admin.body(request), TEAM_FIELDS, partial=True)
    async with (await admin.db()).session() as session:
        team: Team = await admin.reachable(
            session, principal, await queries.get_team(session, team_id), "team", team_id
        )
        before = snapshot(team)
        if "org_id" in values:
            owner = await admin.place(session, org_id=values["org_id"])
            admin.within_scope(principal, owner, "team")
        values = (await admin.rights(session, principal)).check(values, fill=False)
        await queries.update_team(session, team.id, **values)
        await admin.audit(
            session, principal, "team.update", team, before=before, after=snapshot(team),
            org_id=team.org_id,
        )  # fmt: skip
        shown = dump(team, TEAM_FIELDS)
    await admin.announce_key_change()  # their keys carry these settings
    return respond(shown)


async def _delete_team(admin: Admin, request: Request, principal: Principal) -> Response:
    team_id = path_id(request, "team_id")
    async with (await admin.db()).session() as session:
        team: Team = await admin.reachable(
            session, principal, await queries.get_team(session, team_id), "team", team_id
        )
        await admin.refuse_if_referenced(session, team, "team")
        before = snapshot(team)
        await queries.delete_team(session, team.id)
        await admin.audit(
            session, principal, "team.delete", team, before=before, after=None,
            org_id=team.org_id,
        )  # fmt: skip
    await admin.announce_key_change()
    return respond({"id": team_id, "object": "team", "deleted": True})


OPERATIONS = (
    Operation("POST", "/teams", "teams.create", _create_team, "Create a team.",
              request="TeamCreate", response="Team", status=201),
    Operation("GET", "/teams", "teams.list", _list_teams, "List the teams in the caller's scope.",
              response="TeamList", query=("org_id",), paged=True),
    Operation("GET", "/teams/{team_id}", "teams.read", _get_team, "Read a team.",
              response="Team"),
    Operation("PATCH", "/teams/{team_id}", "teams.update", _update_team,
              "Change a team's settings.", request="TeamUpdate", response="Team"),
    Operation("DELETE", "/teams/{team_id}", "teams.delete", _delete_team,
              "Delete a team that has no users and no keys left.", response="Deleted"),
)  # fmt: skip
