"""Authentication for the HTTP routes plugins add (admin API, metrics, health, UI).

The OpenAI routes authenticate inside the pipeline; a plugin's own routes call
`guarded` instead, which runs the same `authenticate` hooks on the request's headers and
checks the caller's role. Auth is attached to each route here, never inferred from a path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from .call import Principal
from .errors import GatewayError

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = ["Handler", "error_response", "guarded", "require_principal"]

#: A guarded route's handler: the request and the authenticated caller.
Handler = Callable[[Request, Principal], Awaitable[Response]]


def error_response(error: GatewayError) -> Response:
    """`error` as an OpenAI-shaped JSON response, with its extra headers."""
    return Response(
        error.body(), status_code=error.status, media_type="application/json", headers=error.headers
    )


async def require_principal(
    gateway: Gateway, request: Request, roles: Collection[str] | None = None
) -> Principal:
    """The caller of `request`; 401 when nobody could be authenticated, 403 when its role is
    not one of `roles` (None: any authenticated caller)."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    principal = await gateway.authenticate(headers)
    if principal is None:
        raise GatewayError(
            401,
            "Authentication required: send an API key as 'Authorization: Bearer <key>'.",
            code="missing_api_key",
        )
    if roles is not None and principal.role not in roles:
        raise GatewayError(
            403,
            f"This route needs one of the roles {', '.join(sorted(roles))}; "
            f"the caller's role is {principal.role or 'none'}.",
            code="insufficient_role",
        )
    return principal


def guarded(
    gateway: Gateway, handler: Handler, roles: Collection[str] | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that authenticates the caller, checks `roles`, then runs `handler`;
    a `GatewayError` from either becomes its OpenAI-shaped response."""
    allowed = None if roles is None else frozenset(roles)

    async def endpoint(request: Request) -> Response:
        try:
            principal = await require_principal(gateway, request, allowed)
            return await handler(request, principal)
        except GatewayError as error:
            return error_response(error)

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    return endpoint
