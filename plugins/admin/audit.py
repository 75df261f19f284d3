"""`/admin/v1/audit`: the audit log, newest first. An admin sees every entry, an org_admin
those about its organization. Entries are written by the other admin modules, in the same
transaction as the change they record, with secrets masked."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from litegate import Principal
from litegate.db import queries
from litegate.db.queries import Page

from .context import Admin
from .operation import Operation
from .rbac import Scope
from .schema import Field, object_schema

__all__ = ["AUDIT_FIELDS", "OPERATIONS", "SCHEMAS"]

AUDIT_FIELDS = (
    Field("id", "count", "The entry's number; later entries have larger ones.", read_only=True,
          nullable=False),
    Field("at", "datetime", "When the change was made.", read_only=True, nullable=False),
    Field("actor", "string", 'Who made it: "master-key", "static:<name>", "virtual:<key id>", ...',
          read_only=True, nullable=False),
    Field("action", "string", 'What was done: "key.create", "team.update", ...',
          read_only=True, nullable=False),
    Field("target_type", "string", "The kind of thing changed: key, team, user, org.",
          read_only=True, nullable=False),
    Field("target_id", "id", "Its id.", read_only=True),
    Field("org_id", "id", "The organization it belongs to, if any.", read_only=True),
    Field("before", "object", "It before the change, secrets masked; null when created.",
          read_only=True),
    Field("after", "object", "It after the change, secrets masked; null when deleted.",
          read_only=True),
)  # fmt: skip

SCHEMAS = {"AuditEntry": object_schema(AUDIT_FIELDS, output=True)}


async def _list_audit(admin: Admin, request: Request, principal: Principal) -> Response:
    cursor, limit = admin.page_args(request)
    wanted: dict[str, Any] = admin.filters(request, "target_type", "target_id")
    actor = request.query_params.get("actor")
    if actor:
        wanted["actor"] = actor[:255]
    scope = Scope.of(principal)
    if scope.level == "org":
        wanted["org_id"] = scope.id
    elif scope.level != "all":
        return admin.listing(Page([], None), AUDIT_FIELDS)
    async with (await admin.db()).session() as session:
        page = await queries.list_audit(session, cursor=cursor, limit=limit, **wanted)
    return admin.listing(page, AUDIT_FIELDS)


OPERATIONS = (
    Operation("GET", "/audit", "audit.list", _list_audit,
              "List audit entries, newest first.", response="AuditEntryList",
              query=("actor", "target_type", "target_id"), paged=True),
)  # fmt: skip
