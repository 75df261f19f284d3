"""The Starlette app factory: routes, transport middleware and the lifespan.

Transport concerns (request id, header limits, error shape of non-API failures) live here as
pure ASGI middleware; everything semantic is in the pipeline.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .asgi_io import send_bytes
from .errors import GatewayError
from .gateway import Gateway
from .ids import random_id
from .load_shedding import LoadShedder
from .logs import REQUEST_ID
from .messages_api import CountTokensEndpoint, MessagesEndpoint
from .routes import (
    HealthEndpoint,
    ModelEndpoint,
    ModelsEndpoint,
    OpenAPIEndpoint,
    ReadyEndpoint,
    UploadEndpoint,
)

__all__ = ["create_app"]

log = logging.getLogger("litegate.app")

# A client-sent request id is echoed only if it is short and harmless in logs and headers.
_CLIENT_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


def create_app(gateway: Gateway, after_start: Callable[[], None] | None = None) -> Starlette:
    model_routes = [
        Route("/v1/chat/completions", ModelEndpoint(gateway, "chat"), methods=["POST"]),
        Route("/v1/completions", ModelEndpoint(gateway, "completions"), methods=["POST"]),
        Route("/v1/embeddings", ModelEndpoint(gateway, "embeddings"), methods=["POST"]),
        Route("/v1/messages", MessagesEndpoint(gateway), methods=["POST"]),
        Route("/v1/messages/count_tokens", CountTokensEndpoint(gateway), methods=["POST"]),
        Route("/v1/images/generations", ModelEndpoint(gateway, "images"), methods=["POST"]),
        Route("/v1/audio/speech", ModelEndpoint(gateway, "speech"), methods=["POST"]),
        Route(
            "/v1/audio/transcriptions", UploadEndpoint(gateway, "transcriptions"), methods=["POST"]
        ),
        Route("/v1/moderations", ModelEndpoint(gateway, "moderations"), methods=["POST"]),
        Route("/v1/rerank", ModelEndpoint(gateway, "rerank"), methods=["POST"]),
    ]
    routes: list[BaseRoute] = [
        *model_routes,
        Route("/v1/models", ModelsEndpoint(gateway), methods=["GET"]),
        Route("/v1/models/{model:path}", ModelsEndpoint(gateway), methods=["GET"]),
        Route("/health", HealthEndpoint(), methods=["GET"]),
        Route("/health/ready", ReadyEndpoint(gateway), methods=["GET"]),
        Route("/openapi.json", OpenAPIEndpoint(), methods=["GET"]),
    ]
    routes += _plugin_routes(gateway)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        if after_start is not None:
            after_start()
        try:
            yield
        finally:
            await gateway.aclose()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    app.state.gateway = gateway
    server = gateway.config.server
    inner: Any = DirectRoutes(app, {route.path: route.endpoint for route in model_routes})
    if server.max_concurrent_requests:
        inner = LoadShedder(inner, server.max_concurrent_requests)
    return RequestIdMiddleware(  # type: ignore[return-value]
        inner, max_headers=server.max_headers, max_header_size=int(server.max_header_size)
    )


def _plugin_routes(gateway: Gateway) -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for impl in gateway.dispatcher.impls("routes"):
        result = impl.call_sync(gateway=gateway)
        if inspect.isawaitable(result):
            raise TypeError(f"plugin {impl.plugin!r}: the routes hook must be a plain def")
        found.extend(result or ())
    return found


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = GatewayError(
            404, "Unknown path. This gateway serves the OpenAI API under /v1/.", code="not_found"
        )
    elif exc.status_code == 405:
        error = GatewayError(
            405, "This method is not allowed on this path.", code="method_not_allowed"
        )
    else:
        error = GatewayError(exc.status_code, str(exc.detail))
    headers = dict(exc.headers or {})
    return Response(error.body(), error.status, headers, media_type="application/json")


async def _internal_error(request: Request, exc: Exception) -> Response:
    return Response(_internal_error_body(request.scope, exc), 500, media_type="application/json")


def _internal_error_body(scope: MutableMapping[str, Any], exc: Exception) -> bytes:
    request_id = scope.get("litegate.request_id", "?")
    log.error("unhandled error in request %s", request_id, exc_info=exc)
    error = GatewayError(
        500,
        f"The gateway failed while handling this request (request id "
        f"{request_id}); its log has the details.",
        code="internal_error",
    )
    return error.body()


class DirectRoutes:
    """Sends POSTs to the model endpoints straight to them; everything else to Starlette.

    The model endpoints are raw ASGI apps at fixed paths, so Starlette's exception
    middleware, router and their two send wrappers do nothing for them but add six await
    levels and two send hops: ~40 us a call on the benchmark machine, ~4 % of a short call's
    CPU behind Hypercorn (see benchmarks/). What they did do -- a 500 in the OpenAI error
    shape when something unexpected escapes -- is done here the same way.
    """

    def __init__(self, app: Any, endpoints: dict[str, Any]) -> None:
        self.app = app
        self.endpoints = endpoints

    def __getattr__(self, name: str) -> Any:
        # Introspection (routes, state, url_path_for) sees the Starlette app it fronts.
        return getattr(self.app, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        endpoint = None
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.endpoints.get(scope["path"])
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        try:
            await endpoint(scope, receive, send)
        except Exception as exc:
            body = _internal_error_body(scope, exc)
            # Like Starlette's ServerErrorMiddleware: answer 500 unless the response has
            # started (then the server refuses a second start), and re-raise for its log.
            with contextlib.suppress(Exception):
                await send_bytes(send, 500, body)
            raise


class RequestIdMiddleware:
    """Gives every HTTP request an id (the client's `x-request-id` when sane) and puts it on
    every response, errors and 404s included. Also enforces the header count and size limits
    (the server's own limit only applies to heads that arrive in pieces)."""

    def __init__(self, app: Any, *, max_headers: int, max_header_size: int) -> None:
        self.app = app
        self.max_headers = max_headers
        self.max_header_size = max_header_size
        self.state = getattr(app, "state", None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        size = 0
        for name, value in scope["headers"]:
            size += len(name) + len(value)
            if name == b"x-request-id" and _CLIENT_REQUEST_ID.match(value):
                request_id = value
        if request_id is None:
            request_id = random_id().encode()
        scope["litegate.request_id"] = text_id = request_id.decode()
        REQUEST_ID.set(text_id)  # for log records (litegate.logs); each request is a task
        header = (b"x-request-id", request_id)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        error = None
        if len(scope["headers"]) > self.max_headers:
            error = GatewayError(
                431,
                f"Too many request headers (the limit is "
                f"{self.max_headers}; see server.max_headers).",
                code="too_many_headers",
            )
        elif size > self.max_header_size:
            error = GatewayError(
                431,
                f"The request headers are too large (the limit is {self.max_header_size} "
                "bytes; see server.max_header_size).",
                code="headers_too_large",
            )
        if error is not None:
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send_with_id({"type": "http.response.body", "body": error.body()})
            return
        await self.app(scope, receive, send_with_id)
