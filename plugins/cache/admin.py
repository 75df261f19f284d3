"""The cache's admin API, for callers with the admin role:

- ``GET /admin/v1/cache/stats``: hits, misses, bypasses, stores and semantic hits of every
  worker sharing the store; this worker's memory tier; the semantic index's size.
- ``POST /admin/v1/cache/purge`` with a JSON body naming what to drop: ``{"tenant":
  "team:alpha"}`` (or ``{"team": "alpha"}``), ``{"model": "gpt-4o"}``, ``{"key":
  "<x-litegate-cache-key>"}`` or ``{"all": true}``. Naming a tenant and a model purges both
  (the union): purges are rules per tenant and per model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from litegate import GatewayError, Principal
from litegate.route_auth import Handler, guarded
from litegate.state import StateError

if TYPE_CHECKING:
    from litegate import Gateway

    from .store import TieredCache

__all__ = ["routes"]

PREFIX = "/admin/v1/cache"
_ADMIN = frozenset({"admin"})


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def routes(gateway: Gateway, cache: TieredCache) -> list[BaseRoute]:
    async def stats(request: Request, principal: Principal) -> Response:
        return _json(await cache.stats())

    async def purge(request: Request, principal: Principal) -> Response:
        body = await _body(request)
        tenant, model, key = body.get("tenant"), body.get("model"), body.get("key")
        if body.get("team") is not None:
            tenant = f"team:{body['team']}"
        for name, value in (("tenant", tenant), ("model", model), ("key", key)):
            if value is not None and (not isinstance(value, str) or not value):
                raise GatewayError(400, f"'{name}' must be a non-empty string.", param=name)
        if key is not None and (tenant is not None or model is not None):
            raise GatewayError(400, "Purge by 'key' alone, or by 'tenant' and/or 'model'.")
        if tenant is None and model is None and key is None and body.get("all") is not True:
            raise GatewayError(
                400,
                "Name what to purge: 'tenant' (or 'team'), 'model', 'key', or 'all': true.",
                code="missing_purge_target",
            )
        return _json(await cache.purge(tenant=tenant, model=model, key=key))

    return [
        Route(f"{PREFIX}/stats", guarded(gateway, _store_errors(stats), _ADMIN), methods=["GET"]),
        Route(f"{PREFIX}/purge", guarded(gateway, _store_errors(purge), _ADMIN), methods=["POST"]),
    ]


def _store_errors(handler: Handler) -> Handler:
    """A failing shared store as a 503 in OpenAI's shape, not a bare 500."""

    async def wrapped(request: Request, principal: Principal) -> Response:
        try:
            return await handler(request, principal)
        except StateError as exc:
            raise GatewayError(
                503, f"The cache's shared store failed: {exc}", code="cache_unavailable"
            ) from None

    wrapped.__name__ = handler.__name__
    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise GatewayError(400, "The body must be a JSON object.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "The body must be a JSON object.", code="invalid_json")
    return body
