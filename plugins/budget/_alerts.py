"""Budget alerts: a JSON POST to a webhook when spend crosses a threshold, once per period."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

__all__ = ["Alerts"]

log = logging.getLogger("litegate.budget")


class Alerts:
    """Sends alerts in background tasks, so no call waits for the webhook."""

    def __init__(self, url: str | None, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.sent = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._clients: list[httpx.AsyncClient] = []

    def send(self, payload: dict[str, Any]) -> None:
        if self.url is None:
            log.warning("budget alert (no webhook_url set): %s", payload)
            return
        task = asyncio.get_running_loop().create_task(self._post(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, payload: dict[str, Any]) -> None:
        assert self.url is not None
        if not self._clients:
            self._clients.append(httpx.AsyncClient(timeout=self.timeout))
        try:
            response = await self._clients[0].post(self.url, json=payload)
            response.raise_for_status()
            self.sent += 1
        except httpx.HTTPError as exc:
            log.warning("budget alert to the webhook failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        """Let alerts in flight finish (up to the timeout), then close the client."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.timeout)
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
