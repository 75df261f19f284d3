"""The admin plugin: serves every operation of the resource modules under /admin/v1, each
behind `guarded` with the roles `rbac.ACTIONS` gives its action, plus the OpenAPI document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from litegate import Gateway, hookimpl
from litegate.config_types import Duration
from litegate.route_auth import guarded

from . import audit, keys, orgs, teams, users
from .context import Admin, respond
from .openapi import OPENAPI_PATH, document
from .operation import Operation
from .rbac import ACTIONS

__all__ = ["OPERATIONS", "AdminPlugin"]

#: Every operation the admin API serves, in the order the OpenAPI document lists them.
OPERATIONS: tuple[Operation, ...] = (
    *orgs.OPERATIONS,
    *teams.OPERATIONS,
    *users.OPERATIONS,
    *keys.OPERATIONS,
    *audit.OPERATIONS,
)
SCHEMAS: dict[str, Any] = {
    **orgs.SCHEMAS,
    **teams.SCHEMAS,
    **users.SCHEMAS,
    **keys.SCHEMAS,
    **audit.SCHEMAS,
}


class AdminPlugin:
    """The admin API under /admin/v1: organizations, teams, users and virtual keys (create,
    read, list, update, delete or revoke; rotate keys), the audit log and an OpenAPI
    document. Callers authenticate through the pipeline's auth plugin; see
    docs/admin-api.md for the roles."""

    @attrs.frozen
    class Config:
        #: How long a rotated-out key keeps working when the rotate request names no
        #: `grace_period`.
        rotation_grace: Duration = Duration(86400)
        #: Items per page when a list request gives no `limit` (at most 1000).
        page_size: int = attrs.field(default=100, validator=attrs.validators.in_(range(1, 1001)))

    def __init__(self, config: Config) -> None:
        self.config = config

    @hookimpl
    async def startup(self, gateway: Gateway) -> None:
        # Open (and migrate) the records database now: a bad `[state] db` stops start-up
        # instead of failing the first admin request.
        await gateway.open_db()

    @hookimpl
    def routes(self, gateway: Gateway) -> Sequence[BaseRoute]:
        admin = Admin(
            gateway,
            page_size=self.config.page_size,
            rotation_grace=float(self.config.rotation_grace),
        )
        served: list[BaseRoute] = [
            Route(
                op.full_path,
                guarded(gateway, op.bind(admin), roles=ACTIONS[op.action]),
                methods=[op.method],
                name=f"admin:{op.operation_id}",
            )
            for op in OPERATIONS
        ]
        spec = document(OPERATIONS, SCHEMAS)

        async def openapi(request: Request) -> Response:
            return respond(spec)

        served.append(Route(OPENAPI_PATH, openapi, methods=["GET"], name="admin:openapi"))
        return served
