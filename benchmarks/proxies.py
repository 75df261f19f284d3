"""Bare passthrough proxies: the floor of litegate's stack (Starlette + Hypercorn + a client).

Each reads the request body, POSTs it to the same path on the upstream, and answers with the
upstream's status and bytes -- a `StreamingResponse` when the upstream streams SSE. No JSON
parsing, no auth, no logging: whatever litegate costs above these is the gateway's own work.

- ``httpx``: `httpx.AsyncClient` with its default transport (httpcore's pool).
- ``aiohttp``: `aiohttp.ClientSession` directly (what litegate's transport uses).

Run: ``python -m benchmarks.proxies aiohttp --port 9201 --upstream http://127.0.0.1:9100``.
Served with the same Hypercorn settings as ``litegate serve`` (one in-process worker, uvloop
when installed, no access log).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

# Enough for 256 concurrent slow calls, with room; neither client may queue on its pool.
MAX_CONNECTIONS = 1000
_UPSTREAM_ENV = "BENCH_UPSTREAM"
_FORWARD = {"content-type": "application/json"}


def _upstream() -> str:
    return os.environ.get(_UPSTREAM_ENV, "http://127.0.0.1:9100").rstrip("/")


def _httpx_app() -> Starlette:
    state: dict[str, httpx.AsyncClient] = {}
    base = _upstream()

    async def forward(request: Request) -> Response:
        body = await request.body()
        client = state["client"]
        upstream = await client.send(
            client.build_request("POST", base + request.url.path, content=body, headers=_FORWARD),
            stream=True,
        )
        media_type = upstream.headers.get("content-type", "application/json")
        if media_type.startswith("text/event-stream"):
            return StreamingResponse(
                upstream.aiter_raw(),
                status_code=upstream.status_code,
                media_type=media_type,
                background=BackgroundTask(upstream.aclose),
            )
        content = await upstream.aread()
        await upstream.aclose()
        return Response(content, upstream.status_code, media_type=media_type)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
        )
        async with httpx.AsyncClient(limits=limits, timeout=None) as client:
            state["client"] = client
            yield

    return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])], lifespan=lifespan)


def _aiohttp_app() -> Starlette:
    state: dict[str, aiohttp.ClientSession] = {}
    base = _upstream()

    async def forward(request: Request) -> Response:
        body = await request.body()
        upstream = await state["session"].post(base + request.url.path, data=body, headers=_FORWARD)
        media_type = upstream.headers.get("content-type", "application/json")
        if media_type.startswith("text/event-stream"):
            return StreamingResponse(
                upstream.content.iter_any(),
                status_code=upstream.status,
                media_type=media_type,
                background=BackgroundTask(upstream.release),
            )
        content = await upstream.read()
        upstream.release()
        return Response(content, upstream.status, media_type=media_type)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0)
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            state["session"] = session
            yield

    return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])], lifespan=lifespan)


_APPS = {"httpx": _httpx_app, "aiohttp": _aiohttp_app}


def create_app(client: str) -> Starlette:
    return _APPS[client]()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client", choices=sorted(_APPS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9100")
    args = parser.parse_args()
    os.environ[_UPSTREAM_ENV] = args.upstream

    from hypercorn.run import run

    from litegate.config import parse_config
    from litegate.server import hypercorn_config

    # The very settings `litegate serve` uses, pointed at this module's app instead.
    config = hypercorn_config(parse_config(""), args.host, args.port, workers=1)
    # Hypercorn evaluates the part after the colon, so an app factory call works.
    config.application_path = f"benchmarks.proxies:create_app({args.client!r})"
    raise SystemExit(run(config))


if __name__ == "__main__":
    main()
