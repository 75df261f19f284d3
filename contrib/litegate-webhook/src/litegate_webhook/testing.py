"""A webhook receiver over real HTTP, for testing pipelines that use the `webhook` plugin.

    with WebhookReceiver() as receiver:
        ...  # pipeline.toml: url = receiver.url
        events = receiver.wait_for_events(3, timeout=5)

`fail_next(n)` answers the next `n` POSTs with an error status (503 unless told), so retries
can be rehearsed. It runs aiohttp (which litegate already depends on) in its own thread.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from aiohttp import web

from litegate.testing.upstream import FakeUpstream

__all__ = ["WebhookReceiver"]


class WebhookReceiver(FakeUpstream):
    name = "webhook receiver"

    def __init__(self) -> None:
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/events"
        #: Every accepted POST's body (a list of events), in arrival order.
        self.batches: list[list[dict[str, Any]]] = []
        #: Every POST's headers (lower-case names), refused ones included.
        self.requests: list[dict[str, str]] = []
        self._failures: list[int] = []
        self._changed = threading.Condition()

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._changed:
            return [event for batch in self.batches for event in batch]

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._changed:
            self._failures.extend([status] * count)

    def wait_for_events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least `count` events arrived (or `timeout`); return all of them."""
        with self._changed:
            self._changed.wait_for(lambda: sum(map(len, self.batches)) >= count, timeout)
        return self.events

    # -- routes ----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/events", self._receive)

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._changed:
            self.requests.append({k.lower(): v for k, v in request.headers.items()})
            if self._failures:
                return web.Response(status=self._failures.pop(0))
            self.batches.append(json.loads(body))
            self._changed.notify_all()
        return web.Response(status=204)
