"""One admin API operation: its method and path, the RBAC action it needs, its handler, and
what the OpenAPI document says about it. Each resource module lists its operations; the
plugin serves exactly those, and the OpenAPI document is generated from the same list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs
from sqlalchemy.exc import DataError, IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from litegate import GatewayError, Principal
from litegate.route_auth import Handler

if TYPE_CHECKING:
    from .context import Admin

__all__ = ["PREFIX", "AdminHandler", "Operation"]

PREFIX = "/admin/v1"

AdminHandler = Callable[["Admin", Request, Principal], Awaitable[Response]]


@attrs.frozen
class Operation:
    method: str
    #: Under PREFIX, with Starlette/OpenAPI path parameters: "/keys/{key_id}".
    path: str
    #: The `rbac.ACTIONS` entry naming the roles that may call it.
    action: str
    handler: AdminHandler
    summary: str
    #: Component schema names of the request and response bodies (None: no body).
    request: str | None = None
    response: str | None = None
    status: int = 200
    #: Query parameters it filters by (besides `cursor` and `limit` when `paged`).
    query: tuple[str, ...] = ()
    paged: bool = False
    #: The OpenAPI operationId, when the handler's name is taken by another operation.
    name: str | None = None

    @property
    def full_path(self) -> str:
        return PREFIX + self.path

    @property
    def operation_id(self) -> str:
        return self.name or self.handler.__name__.strip("_")

    def bind(self, admin: Admin) -> Handler:
        """The handler for `litegate.route_auth.guarded` (and the UI, which calls it
        in-process); database refusals become 409 / 400, never 500."""
        op = self

        async def handler(request: Request, principal: Principal) -> Response:
            try:
                return await op.handler(admin, request, principal)
            except IntegrityError:
                raise GatewayError(
                    409,
                    "That conflicts with existing data (a name or email already taken, or a "
                    "row another refers to).",
                    code="conflict",
                ) from None
            except ValueError as exc:
                if str(exc) != "invalid cursor":
                    raise
                raise GatewayError(
                    400,
                    "'cursor': not a cursor this list gave.",
                    code="invalid_value",
                    param="cursor",
                ) from None
            except DataError:
                raise GatewayError(
                    400, "A value does not fit its column.", code="invalid_value"
                ) from None

        handler.__name__ = op.operation_id
        return handler
