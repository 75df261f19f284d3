"""`/admin/v1/organizations`: the top of the tenancy tree. Only an admin changes them; an
org_admin (or a viewer of that org) reads its own."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from litegate import Principal
from litegate.db import Organization, queries
from litegate.db.queries import Page, snapshot

from .context import Admin, path_id, respond
from .operation import Operation
from .rbac import Scope
from .schema import BUDGET, ID, METADATA, TIMESTAMPS, Field, dump, object_schema, validate

__all__ = ["OPERATIONS", "ORG_FIELDS", "SCHEMAS"]

ORG_FIELDS = (
    *ID,
    Field("name", "string", "The organization's name (unique).", required=True),
    *METADATA,
    *BUDGET,
    *TIMESTAMPS,
)

SCHEMAS = {
    "Organization": object_schema(ORG_FIELDS, output=True),
    "OrganizationCreate": object_schema(ORG_FIELDS, output=False),
    "OrganizationUpdate": object_schema(ORG_FIELDS, output=False, partial=True),
}


async def _create_org(admin: Admin, request: Request, principal: Principal) -> Response:
    values = validate(await admin.body(request), ORG_FIELDS, partial=False)
    async with (await admin.db()).session() as session:
        org = await queries.create_org(session, **values)
        await admin.audit(
            session, principal, "org.create", org, before=None, after=snapshot(org), org_id=org.id
        )
        shown = dump(org, ORG_FIELDS)
    return respond(shown, 201)


async def _get_org(admin: Admin, request: Request, principal: Principal) -> Response:
    org_id = path_id(request, "org_id")
    async with (await admin.db()).session() as session:
        org = await queries.get_org(session, org_id)
        await admin.reachable(session, principal, org, "organization", org_id)
    return respond(dump(org, ORG_FIELDS))


async def _list_orgs(admin: Admin, request: Request, principal: Principal) -> Response:
    cursor, limit = admin.page_args(request)
    scope = Scope.of(principal)
    async with (await admin.db()).session() as session:
        if scope.level == "all":
            page = await queries.list_orgs(session, cursor=cursor, limit=limit)
        elif scope.level == "org" and scope.id and cursor is None:
            org = await queries.get_org(session, scope.id)
            page = Page([org] if org is not None else [], None)
        else:
            page = Page([], None)
    return admin.listing(page, ORG_FIELDS)


async def _update_org(admin: Admin, request: Request, principal: Principal) -> Response:
    org_id = path_id(request, "org_id")
    values = validate(await admin.body(request), ORG_FIELDS, partial=True)
    async with (await admin.db()).session() as session:
        org: Organization = await admin.reachable(
            session, principal, await queries.get_org(session, org_id), "organization", org_id
        )
        before = snapshot(org)
        await queries.update_org(session, org.id, **values)
        await admin.audit(
            session, principal, "org.update", org, before=before, after=snapshot(org),
            org_id=org.id,
        )  # fmt: skip
        shown = dump(org, ORG_FIELDS)
    return respond(shown)


async def _delete_org(admin: Admin, request: Request, principal: Principal) -> Response:
    org_id = path_id(request, "org_id")
    async with (await admin.db()).session() as session:
        org: Organization = await admin.reachable(
            session, principal, await queries.get_org(session, org_id), "organization", org_id
        )
        await admin.refuse_if_referenced(session, org, "organization")
        before = snapshot(org)
        await queries.delete_org(session, org.id)
        await admin.audit(
            session, principal, "org.delete", org, before=before, after=None, org_id=org.id
        )
    return respond({"id": org_id, "object": "organization", "deleted": True})


OPERATIONS = (
    Operation("POST", "/organizations", "orgs.create", _create_org, "Create an organization.",
              request="OrganizationCreate", response="Organization", status=201),
    Operation("GET", "/organizations", "orgs.list", _list_orgs,
              "List the organizations in the caller's scope.", response="OrganizationList",
              paged=True),
    Operation("GET", "/organizations/{org_id}", "orgs.read", _get_org, "Read an organization.",
              response="Organization"),
    Operation("PATCH", "/organizations/{org_id}", "orgs.update", _update_org,
              "Change an organization.", request="OrganizationUpdate", response="Organization"),
    Operation("DELETE", "/organizations/{org_id}", "orgs.delete", _delete_org,
              "Delete an organization that has no teams and no users left.", response="Deleted"),
)  # fmt: skip
