"""What every admin handler shares: the database, request parsing, responses, scope checks,
the audit trail and key-change announcements."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import attrs
import orjson
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from litegate import Gateway, GatewayError, Principal
from litegate.db import Database, Organization, Team, User, VirtualKey, queries
from litegate.db.queries import MAX_PAGE_SIZE, Page
from litegate.state import StateError

from .rbac import Owner, Rights, Scope, actor
from .schema import Field, dump

__all__ = ["Admin", "not_found", "respond"]

log = logging.getLogger("litegate.admin")

#: Ids are UUID text; anything longer (or with a NUL) can't name a row.
MAX_ID = 64


def respond(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


_UUID = re.compile(r"[0-9a-fA-F-]{1,36}")


def _shown(ident: str) -> str:
    """An id as it may appear in a message: only id-shaped text is echoed, never what might
    be a secret pasted in the wrong place."""
    return f"'{ident}'" if _UUID.fullmatch(ident) else "(not an id)"


def not_found(kind: str, ident: str) -> GatewayError:
    return GatewayError(404, f"No {kind} with id {_shown(ident)}.", code="not_found")


def path_id(request: Request, name: str) -> str:
    """A path parameter; 404 at once for one that can't be an id."""
    value = str(request.path_params[name])
    if len(value) > MAX_ID or "\x00" in value:
        raise not_found(name.removesuffix("_id"), value)
    return value


def _missing(param: str, kind: str, ident: str) -> GatewayError:
    return GatewayError(
        400, f"'{param}': no {kind} with id {_shown(ident)}.", code="invalid_value", param=param
    )


@attrs.frozen
class Admin:
    gateway: Gateway
    #: Page size when a list request gives no `limit`.
    page_size: int
    #: Rotation grace (seconds) when a rotate request gives none.
    rotation_grace: float

    async def db(self) -> Database:
        return await self.gateway.open_db()

    # -- requests -------------------------------------------------------------------------

    async def body(self, request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise GatewayError(400, "The body is not valid JSON.", code="invalid_json") from None

    def page_args(self, request: Request) -> tuple[str | None, int]:
        """`cursor` and `limit` from the query string (400 when out of range)."""
        raw = request.query_params.get("limit")
        limit = self.page_size
        if raw is not None:
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
                raise GatewayError(
                    400,
                    f"'limit': expected an integer from 1 to {MAX_PAGE_SIZE}.",
                    code="invalid_value",
                    param="limit",
                )
            limit = int(raw)
        cursor = request.query_params.get("cursor") or None
        return cursor, limit

    def filters(self, request: Request, *names: str) -> dict[str, str]:
        found = {}
        for name in names:
            value = request.query_params.get(name)
            if value:
                if len(value) > MAX_ID or "\x00" in value:
                    raise GatewayError(
                        400, f"'{name}': not an id.", code="invalid_value", param=name
                    )
                found[name] = value
        return found

    # -- responses ------------------------------------------------------------------------

    @staticmethod
    def listing(page: Page[Any], fields: Sequence[Field]) -> Response:
        return respond(
            {
                "object": "list",
                "data": [dump(row, fields) for row in page.items],
                "next_cursor": page.next_cursor,
                "has_more": page.next_cursor is not None,
            }
        )

    # -- scope and rights -----------------------------------------------------------------

    @staticmethod
    async def owner(session: AsyncSession, row: Organization | Team | User | VirtualKey) -> Owner:
        """Where `row` belongs; a user's or key's org comes from its team when not its own."""
        if isinstance(row, Organization):
            return Owner(org=row.id)
        if isinstance(row, Team):
            return Owner(org=row.org_id, team=row.id)
        user_id = row.id if isinstance(row, User) else row.user_id
        org = row.org_id if isinstance(row, User) else None
        if org is None and row.team_id is not None:
            team = await queries.get_team(session, row.team_id)
            org = team.org_id if team is not None else None
        if org is None and isinstance(row, VirtualKey) and row.user_id is not None:
            user = await queries.get_user(session, row.user_id)
            org = user.org_id if user is not None else None
        return Owner(org=org, team=row.team_id, user=user_id)

    async def reachable(
        self,
        session: AsyncSession,
        principal: Principal,
        row: Organization | Team | User | VirtualKey | None,
        kind: str,
        ident: str,
    ) -> Any:
        """`row` when the caller's scope reaches it; 404 otherwise (also when it's None)."""
        if row is None or not Scope.of(principal).reaches(await self.owner(session, row)):
            raise not_found(kind, ident)
        return row

    @staticmethod
    async def place(
        session: AsyncSession,
        *,
        org_id: str | None = None,
        team_id: str | None = None,
        user_id: str | None = None,
    ) -> Owner:
        """Where a row naming these ids would belong; 400 for an id that names nothing."""
        org = org_id
        if org_id is not None and await queries.get_org(session, org_id) is None:
            raise _missing("org_id", "organization", org_id)
        if team_id is not None:
            team = await queries.get_team(session, team_id)
            if team is None:
                raise _missing("team_id", "team", team_id)
            org = org or team.org_id
        if user_id is not None:
            user = await queries.get_user(session, user_id)
            if user is None:
                raise _missing("user_id", "user", user_id)
            org = org or user.org_id
        return Owner(org=org, team=team_id, user=user_id)

    @staticmethod
    async def rights(session: AsyncSession, principal: Principal) -> Rights:
        team = await queries.get_team(session, principal.team) if principal.team else None
        org = await queries.get_org(session, principal.org) if principal.org else None
        return Rights.of(principal, team, org)

    @staticmethod
    def within_scope(principal: Principal, owner: Owner, what: str) -> None:
        """403 when a row would be placed outside the caller's scope (a member's keys stay
        in its own team, too)."""
        scope = Scope.of(principal)
        if not scope.reaches(owner) or (
            scope.level == "user" and owner.team not in (None, principal.team)
        ):
            raise GatewayError(
                403,
                f"A {principal.role} can't place a {what} outside its own "
                f"{Scope.of(principal).level}.",
                code="out_of_scope",
            )

    @staticmethod
    async def refuse_if_referenced(
        session: AsyncSession, row: Organization | Team | User, kind: str
    ) -> None:
        """409 while other rows (teams, users, keys not revoked) still refer to `row`."""
        found = await queries.dependents(session, row)
        if found:
            listed = ", ".join(f"{count} {table}" for table, count in sorted(found.items()))
            raise GatewayError(
                409,
                f"The {kind} still has {listed}; delete, move or revoke them first.",
                code="in_use",
            )

    # -- audit and announcements ----------------------------------------------------------

    @staticmethod
    async def audit(
        session: AsyncSession,
        principal: Principal,
        action: str,
        row: Any,
        *,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        org_id: str | None,
    ) -> None:
        if before is not None and before == after:
            return  # nothing changed: nothing to record
        who = actor(principal)
        log.info("admin change: %s %s %s", who, action, row.id)
        await queries.append_audit(
            session,
            actor=who,
            action=action,
            target_type=action.partition(".")[0],
            target_id=row.id,
            before=before,
            after=after,
            org_id=org_id,
        )

    async def announce_key_change(self, key_hash: str = queries.EVERY_KEY) -> None:
        """Tell every worker's auth cache to drop the key (after the change is committed);
        by default every key: a team's or user's settings, which their keys carry, changed."""
        try:
            state = await self.gateway.open_state()
            await state.publish(queries.KEY_CHANGES_CHANNEL, key_hash.encode())
        except StateError:
            raise GatewayError(
                503,
                "The change is saved, but could not be announced to other workers; their "
                "caches will catch up when their entries expire.",
                code="state_unavailable",
            ) from None
