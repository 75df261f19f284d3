"""`/admin/v1/keys`: virtual keys. The secret is in the create (and rotate) response only;
reads and lists show its prefix. Every change that affects authentication (update, revoke,
rotate) is announced on `KEY_CHANGES_CHANNEL` so every worker's auth cache drops the key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from litegate import GatewayError, Principal
from litegate.db import VirtualKey, queries
from litegate.db.queries import Page, snapshot

from .context import Admin, path_id, respond
from .operation import Operation
from .rbac import GRANTS, Scope
from .schema import BUDGET, ID, LIMITS, METADATA, TIMESTAMPS, Field, dump, object_schema, validate

__all__ = ["KEY_FIELDS", "OPERATIONS", "SCHEMAS"]

KEY_FIELDS = (
    *ID,
    Field("prefix", "string", "The secret's first characters, to tell keys apart.",
          read_only=True, nullable=False),
    Field("name", "string", "A label for people."),
    Field("user_id", "id", "The user who owns the key.", max_length=64),
    Field("team_id", "id", "The team the key belongs to (it inherits its models and limits).",
          max_length=64),
    *METADATA,
    Field("enabled", "boolean", "A disabled key is refused until enabled again.",
          nullable=False),
    Field("expires_at", "datetime", "When the key stops working; null: never."),
    *LIMITS,
    *BUDGET,
    Field("revoked_at", "datetime", "When the key was revoked; null: it is not.",
          read_only=True),
    Field("rotated_from", "id", "The key this one replaced by rotation.", read_only=True),
    Field("grace_until", "datetime", "A rotated-out key works until then.", read_only=True),
    *TIMESTAMPS,
)  # fmt: skip
ROTATE_FIELDS = (
    Field(
        "grace_period",
        "duration",
        'How long the old key keeps working: seconds or a string like "10m", "24h" '
        "(default: the plugin's rotation_grace).",
        nullable=False,
    ),
)
SECRET = Field("key", "string", "The secret. Shown in this response only: store it now.",
               read_only=True, nullable=False)  # fmt: skip

SCHEMAS = {
    "Key": object_schema(KEY_FIELDS, output=True),
    "KeyCreated": object_schema((SECRET, *KEY_FIELDS), output=True),
    "KeyCreate": object_schema(KEY_FIELDS, output=False),
    "KeyUpdate": object_schema(KEY_FIELDS, output=False, partial=True),
    "KeyRotate": object_schema(ROTATE_FIELDS, output=False),
}


async def _create_key(admin: Admin, request: Request, principal: Principal) -> Response:
    values = validate(await admin.body(request), KEY_FIELDS, partial=False)
    if principal.role == "member":
        values.setdefault("user_id", principal.user)
    if principal.role in ("member", "team_admin"):
        values.setdefault("team_id", principal.team)
    async with (await admin.db()).session() as session:
        owner = await admin.place(
            session, team_id=values.get("team_id"), user_id=values.get("user_id")
        )
        admin.within_scope(principal, owner, "key")
        await _user_in_scope(admin, session, principal, values.get("user_id"))
        values = (await admin.rights(session, principal)).check(values, fill=True)
        key, secret = await queries.create_key(session, **values)
        await admin.audit(
            session,
            principal,
            "key.create",
            key,
            before=None,
            after=snapshot(key),
            org_id=owner.org,
        )
        shown = {"key": secret, **dump(key, KEY_FIELDS)}
    return respond(shown, 201)


async def _user_in_scope(
    admin: Admin, session: AsyncSession, principal: Principal, user_id: str | None
) -> None:
    """A key may only be given to a user the caller reaches."""
    if user_id is not None:
        user = await queries.get_user(session, user_id)
        if user is not None:
            admin.within_scope(principal, await admin.owner(session, user), "key's user")


async def _get_key(admin: Admin, request: Request, principal: Principal) -> Response:
    key_id = path_id(request, "key_id")
    async with (await admin.db()).session() as session:
        key = await queries.get_key(session, key_id)
        await admin.reachable(session, principal, key, "key", key_id)
    return respond(dump(key, KEY_FIELDS))


async def _list_keys(admin: Admin, request: Request, principal: Principal) -> Response:
    cursor, limit = admin.page_args(request)
    wanted: dict[str, Any] = admin.filters(request, "team_id", "user_id")
    wanted["include_revoked"] = request.query_params.get("include_revoked", "true") != "false"
    scope = Scope.of(principal)
    if scope.level == "org":
        wanted["org_id"] = scope.id
    elif scope.level in ("team", "user"):
        name = f"{scope.level}_id"
        if wanted.get(name, scope.id) != scope.id:
            return admin.listing(Page([], None), KEY_FIELDS)
        wanted[name] = scope.id
    elif scope.level == "none":
        return admin.listing(Page([], None), KEY_FIELDS)
    async with (await admin.db()).session() as session:
        page = await queries.list_keys(session, cursor=cursor, limit=limit, **wanted)
    return admin.listing(page, KEY_FIELDS)


async def _update_key(admin: Admin, request: Request, principal: Principal) -> Response:
    key_id = path_id(request, "key_id")
    values = validate(await admin.body(request), KEY_FIELDS, partial=True)
    async with (await admin.db()).session() as session:
        key: VirtualKey = await admin.reachable(
            session, principal, await queries.get_key(session, key_id), "key", key_id
        )
        before = snapshot(key)
        owner = await admin.owner(session, key)
        if "team_id" in values or "user_id" in values:
            owner = await admin.place(
                session,
                team_id=values.get("team_id", key.team_id),
                user_id=values.get("user_id", key.user_id),
            )
            admin.within_scope(principal, owner, "key")
            await _user_in_scope(admin, session, principal, values.get("user_id"))
            # A key that leaves its team stops inheriting the team's bounds: what it
            # inherited must now be spelled out, within the caller's rights.
            values = {**{name: getattr(key, name) for name in GRANTS}, **values}
        values = (await admin.rights(session, principal)).check(values, fill=False)
        await queries.update_key(session, key.id, **values)
        await admin.audit(
            session, principal, "key.update", key, before=before, after=snapshot(key),
            org_id=owner.org,
        )  # fmt: skip
        shown = dump(key, KEY_FIELDS)
    await admin.announce_key_change(key.key_hash)
    return respond(shown)


async def _revoke_key(admin: Admin, request: Request, principal: Principal) -> Response:
    key_id = path_id(request, "key_id")
    async with (await admin.db()).session() as session:
        key: VirtualKey = await admin.reachable(
            session, principal, await queries.get_key(session, key_id), "key", key_id
        )
        if key.revoked_at is None:
            before = snapshot(key)
            await queries.revoke_key(session, key.id)
            owner = await admin.owner(session, key)
            await admin.audit(
                session, principal, "key.revoke", key, before=before, after=snapshot(key),
                org_id=owner.org,
            )  # fmt: skip
        shown = dump(key, KEY_FIELDS)
    await admin.announce_key_change(key.key_hash)
    return respond(shown)


async def _rotate_key(admin: Admin, request: Request, principal: Principal) -> Response:
    key_id = path_id(request, "key_id")
    values = validate(await admin.body(request), ROTATE_FIELDS, partial=True)
    grace = timedelta(seconds=values.get("grace_period", admin.rotation_grace))
    async with (await admin.db()).session() as session:
        old: VirtualKey = await admin.reachable(
            session, principal, await queries.get_key(session, key_id), "key", key_id
        )
        if old.revoked_at is not None:
            raise GatewayError(409, "A revoked key can't be rotated.", code="key_revoked")
        before = snapshot(old)
        rotated = await queries.rotate_key(session, old.id, grace=grace)
        assert rotated is not None  # found just above, in this transaction
        new, secret = rotated
        org = (await admin.owner(session, old)).org
        await admin.audit(
            session, principal, "key.rotate", old, before=before, after=snapshot(old), org_id=org
        )
        await admin.audit(
            session, principal, "key.create", new, before=None, after=snapshot(new), org_id=org
        )
        shown = {"key": secret, **dump(new, KEY_FIELDS)}
    await admin.announce_key_change(old.key_hash)
    return respond(shown, 201)


OPERATIONS = (
    Operation("POST", "/keys", "keys.create", _create_key,
              "Create a key; the response carries its secret, shown only this once.",
              request="KeyCreate", response="KeyCreated", status=201),
    Operation("GET", "/keys", "keys.list", _list_keys, "List the keys in the caller's scope.",
              response="KeyList", query=("team_id", "user_id", "include_revoked"), paged=True),
    Operation("GET", "/keys/{key_id}", "keys.read", _get_key, "Read a key (never its secret).",
              response="Key"),
    Operation("PATCH", "/keys/{key_id}", "keys.update", _update_key, "Change a key's settings.",
              request="KeyUpdate", response="Key"),
    Operation("DELETE", "/keys/{key_id}", "keys.revoke", _revoke_key,
              "Revoke a key: refused from then on (the row stays, for audit and spend).",
              response="Key"),
    Operation("POST", "/keys/{key_id}/revoke", "keys.revoke", _revoke_key,
              "Revoke a key (the same as DELETE).", response="Key", name="revoke_key_by_post"),
    Operation("POST", "/keys/{key_id}/rotate", "keys.rotate", _rotate_key,
              "Replace a key by a new one with the same settings; the old one keeps working "
              "for the grace period.", request="KeyRotate", response="KeyCreated", status=201),
)  # fmt: skip
