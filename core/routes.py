"""The OpenAI-compatible HTTP endpoints, as raw ASGI apps mounted on Starlette routes.

They do only HTTP work -- read and parse the body, build the Call, send bytes -- and leave
everything else to the pipeline, which the in-process API shares.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import orjson

from .asgi_io import (
    SSE_HEADERS,
    ClientGone,
    DisconnectWatch,
    parse_json,
    read_body,
    request_headers,
    send_bytes,
    send_error,
    send_json,
)
from .errors import GatewayError
from .multipart import parse_multipart
from .openapi import public_openapi

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = [
    "HealthEndpoint",
    "ModelEndpoint",
    "ModelsEndpoint",
    "OpenAPIEndpoint",
    "ReadyEndpoint",
    "UploadEndpoint",
]


class ModelEndpoint:
    """POST /v1/chat/completions, /v1/completions, /v1/embeddings."""

    def __init__(self, gateway: Gateway, endpoint: str) -> None:
        self.gateway = gateway
        self.endpoint = endpoint
        self.max_body = int(gateway.config.server.max_body_size)
        self.body_deadline = float(gateway.config.server.request_timeout)

    async def parse(self, body: bytes, headers: dict[str, str]) -> Any:
        return parse_json(body)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = request_headers(scope)
        try:
            body = await read_body(receive, headers, self.max_body, self.body_deadline)
            request = await self.parse(body, headers)
            call = self.gateway.new_call(
                self.endpoint, request, headers=headers, request_id=scope.get("litegate.request_id")
            )
        except GatewayError as error:
            await send_error(send, error)
            return
        except ClientGone:
            return
        watch = DisconnectWatch(receive)
        try:
            run = await self.gateway.run(call)
            if run.stream is None:
                assert run.reply is not None
                headers_out = {**run.reply.headers, **call.response_headers}
                try:
                    await send_bytes(
                        send,
                        run.reply.status,
                        run.reply.body(),
                        headers_out,
                        _content_type(run.reply.content_type),
                    )
                except BaseException as exc:
                    await run.finish(exc)
                    raise
                watch.stop()
                await run.finish()
                return
            extra = {**run.stream.headers, **call.response_headers}
            start = SSE_HEADERS + [(k.encode(), v.encode()) for k, v in extra.items()]
            async with aclosing(run.sse()) as events:
                await send({"type": "http.response.start", "status": 200, "headers": start})
                async for event in events:
                    await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            watch.stop()
        except GatewayError as error:
            watch.stop()
            await send_error(send, error)
        except asyncio.CancelledError:
            if not watch.absorb():
                raise


class UploadEndpoint(ModelEndpoint):
    """POST /v1/audio/transcriptions: a multipart/form-data upload instead of JSON."""

    async def parse(self, body: bytes, headers: dict[str, str]) -> Any:
        return await parse_multipart(body, headers)


_JSON = "application/json"
_JSON_HEADER = (b"content-type", b"application/json")


def _content_type(value: str) -> tuple[bytes, bytes]:
    return _JSON_HEADER if value == _JSON else (b"content-type", value.encode("latin-1"))


class ModelsEndpoint:
    """GET /v1/models and GET /v1/models/{model}."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            principal = await self.gateway.authenticate(request_headers(scope))
        except GatewayError as error:
            await send_error(send, error)
            return
        # A caller sees the models it may call (a key narrowed to some aliases sees those).
        models = [
            {"id": alias, "object": "model", "created": 0, "owned_by": deployments[0].provider}
            for alias, deployments in self.gateway.deployments.items()
            if principal is None or principal.may_use(alias)
        ]
        wanted = scope.get("path_params", {}).get("model")
        if wanted is None:
            await send_json(send, 200, {"object": "list", "data": models})
            return
        for model in models:
            if model["id"] == wanted:
                await send_json(send, 200, model)
                return
        await send_error(
            send,
            GatewayError(
                404,
                f"The model '{wanted}' does not exist. GET /v1/models lists the available models.",
                code="model_not_found",
                param="model",
            ),
        )


class HealthEndpoint:
    """GET /health: the process is alive (no dependency checks: that is /health/ready)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send_bytes(send, 200, b'{"status":"ok"}')


class OpenAPIEndpoint:
    """GET /openapi.json: the public API's OpenAPI document (public, like the API's docs)."""

    def __init__(self) -> None:
        self.body = orjson.dumps(public_openapi())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send_bytes(send, 200, self.body)


class ReadyEndpoint:
    """GET /health/ready: start-up finished and the gateway accepts calls."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.gateway.ready:
            await send_json(send, 200, {"status": "ready", "models": len(self.gateway.deployments)})
        else:
            await send_json(send, 503, {"status": "starting"}, {"retry-after": "1"})
