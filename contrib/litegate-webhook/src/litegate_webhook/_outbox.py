"""The outbox: a bounded in-memory queue of events and the task that posts it in batches.

Delivery is best effort. A batch is retried on connection errors, timeouts, 408, 429 and 5xx
with exponential backoff, then given up (logged and counted); a retry after a timeout may
deliver a batch twice, so receivers should de-duplicate on ``request_id``. Nothing is
persisted: events still queued when the process dies are lost.

When the queue is full, *new* events are dropped (the same choice as OpenTelemetry's batch
span processor): events already accepted keep their order and are never discarded later,
and the drop is decided in O(1) on the request's task. Drops are counted, and logged once
when a run of drops starts and once when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

__all__ = ["Outbox", "WebhookStats"]

log = logging.getLogger("litegate.webhook")

_RETRYABLE = frozenset({408, 429})


@attrs.define
class WebhookStats:
    """Event counts since start-up (read them in tests, or export them as metrics)."""

    #: Events accepted into the queue.
    queued: int = 0
    #: Events the receiver acknowledged (2xx).
    sent: int = 0
    #: Events refused because the queue was full.
    dropped: int = 0
    #: Events given up on: retries exhausted, a non-retryable answer, or shutdown's deadline.
    failed: int = 0
    #: POSTs answered with 2xx.
    batches_sent: int = 0
    #: Batches given up on.
    batches_failed: int = 0
    #: POSTs repeated after a retryable failure.
    retries: int = 0


class Outbox:
    def __init__(
        self,
        *,
        url: str,
        headers: dict[str, str],
        batch_size: int,
        flush_interval: float,
        max_queue: int,
        max_retries: int,
        retry_backoff: float,
        max_backoff: float,
        timeout: float,
    ) -> None:
        self.url = url
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.stats = WebhookStats()
        #: The URL as logs may show it: no credentials, no query string.
        self.where = _redacted(url)
        self._headers = {
            "content-type": "application/json",
            "user-agent": "litegate-webhook",
            **headers,
        }
        self._events: deque[dict[str, Any]] = deque()
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._dropping = 0
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    # -- the request side: never blocks, never raises --------------------------------------

    def put(self, event: dict[str, Any]) -> None:
        if len(self._events) >= self.max_queue:
            self.stats.dropped += 1
            if not self._dropping:
                log.warning(
                    "webhook %s: queue full (max_queue=%d); dropping new events until it drains",
                    self.where,
                    self.max_queue,
                )
            self._dropping += 1
            return
        if self._dropping:
            log.warning(
                "webhook %s: queue has room again; %d event(s) were dropped while it was full",
                self.where,
                self._dropping,
            )
            self._dropping = 0
        self._events.append(event)
        self.stats.queued += 1
        if len(self._events) >= self.batch_size:
            self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="litegate-webhook")

    async def close(self, timeout: float) -> None:
        """Deliver what is queued (for at most `timeout` seconds), then stop."""
        self._closing = True
        self._wake.set()
        try:
            if self._task is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(self._task), timeout)
                except TimeoutError:
                    self._task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._task
                    lost = len(self._events) + self._in_flight
                    self._events.clear()
                    self.stats.failed += lost
                    log.warning(
                        "webhook %s: shutdown gave up after %gs; %d event(s) were not delivered",
                        self.where,
                        timeout,
                        lost,
                    )
        finally:
            if self._client is not None:
                await self._client.aclose()

    # -- the background task ---------------------------------------------------------------

    async def _run(self) -> None:
        # Full batches go out as soon as they fill; what is left of a partial one goes out
        # when the interval since the last such flush has passed (or at shutdown).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.flush_interval
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await self._wake.wait()
            self._wake.clear()
            due = loop.time() >= deadline
            await self._drain(partial=due)
            if due:
                deadline = loop.time() + self.flush_interval
        await self._drain(partial=True)

    async def _drain(self, *, partial: bool) -> None:
        while len(self._events) >= self.batch_size or (partial and self._events):
            count = min(self.batch_size, len(self._events))
            batch = [self._events.popleft() for _ in range(count)]
            # Stays set if shutdown cancels us mid-batch, so `close` can count the batch lost.
            self._in_flight = count
            try:
                await self._deliver(batch)
            except Exception:
                # A bug here must not end the task: later events still deserve delivery.
                self.stats.failed += count
                self.stats.batches_failed += 1
                log.exception("webhook %s: could not deliver a batch", self.where)
            self._in_flight = 0

    async def _deliver(self, batch: list[dict[str, Any]]) -> None:
        assert self._client is not None
        body = json.dumps(batch, separators=(",", ":")).encode()
        attempt = 0
        while True:
            delay = min(self.retry_backoff * 2**attempt, self.max_backoff)
            try:
                response = await self._client.post(self.url, content=body, headers=self._headers)
            except httpx.TransportError as exc:
                # The class name says enough (ConnectError, ReadTimeout, ...) and can't leak.
                reason = type(exc).__name__
                retryable = True
            else:
                if response.is_success:
                    self.stats.sent += len(batch)
                    self.stats.batches_sent += 1
                    return
                reason = f"HTTP {response.status_code}"
                retryable = response.status_code in _RETRYABLE or response.status_code >= 500
                delay = max(delay, min(_retry_after(response), self.max_backoff))
            if not retryable or attempt >= self.max_retries:
                break
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(delay)
        self.stats.failed += len(batch)
        self.stats.batches_failed += 1
        log.warning(
            "webhook %s: gave up on a batch of %d event(s) after %d attempt(s): %s",
            self.where,
            len(batch),
            attempt + 1,
            reason,
        )


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return 0.0  # an HTTP date, or junk: the backoff decides
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
