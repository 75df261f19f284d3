"""Load shedding: past `[server] max_concurrent_requests` in one worker, answer 503 at once.

A worker that takes every request it is offered gets slower for all of them, until clients
time out and retry into an even longer queue. Refusing the excess before any work is done
(no body read, no JSON parsed, no upstream call) keeps the accepted ones fast, and the
``Retry-After`` tells well-behaved clients (the OpenAI SDKs retry 503s) when to come back.
Health checks are never shed: an overloaded worker is busy, not dead.
"""

from __future__ import annotations

from typing import Any

from .asgi_io import send_bytes
from .errors import GatewayError

__all__ = ["LoadShedder"]


class LoadShedder:
    """ASGI middleware counting HTTP requests in flight in this worker."""

    def __init__(self, app: Any, limit: int, retry_after: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self._refusal = GatewayError(
            503,
            f"The gateway is at capacity ({limit} requests in flight in this worker; see "
            "server.max_concurrent_requests). Retry shortly.",
            code="overloaded",
            headers={"retry-after": str(retry_after)},
        )

    def __getattr__(self, name: str) -> Any:
        # Introspection (routes, state) sees the app it fronts.
        return getattr(self.app, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/health"):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            refusal = self._refusal
            await send_bytes(send, 503, refusal.body(), refusal.headers)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
