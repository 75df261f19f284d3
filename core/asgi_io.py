"""Small helpers to speak raw ASGI on the hot path (Starlette's Request/Response cost more)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson

from .errors import GatewayError

__all__ = [
    "SSE_HEADERS",
    "ClientGone",
    "DisconnectWatch",
    "parse_json",
    "read_body",
    "request_headers",
    "send_bytes",
    "send_error",
    "send_json",
]

Scope = dict[str, Any]
_JSON = (b"content-type", b"application/json")


#: The response head of every server-sent-event stream we send.
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def parse_json(body: bytes) -> Any:
    """A request body as JSON, or the 400 that says why not."""
    if not body:
        raise GatewayError(
            400, "The request body is empty; send a JSON object.", code="invalid_json"
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(
            400, f"The request body is not valid JSON: {exc}.", code="invalid_json"
        ) from None


class ClientGone(Exception):
    """The client disconnected before we finished reading its request."""


def request_headers(scope: Scope) -> dict[str, str]:
    # ASGI header names are already lower-case bytes.
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


async def read_body(
    receive: Any, headers: Mapping[str, str], limit: int, deadline: float | None = None
) -> bytes:
    """The whole request body: 413 past `limit` bytes, 408 when it takes longer than
    `deadline` seconds to arrive (a slow client must not hold the worker)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    if deadline is None:
        return await _receive_body(receive, limit)
    try:
        async with asyncio.timeout(deadline):
            return await _receive_body(receive, limit)
    except TimeoutError:
        raise GatewayError(
            408,
            f"The request body did not arrive within {deadline:g} s (see server.request_timeout).",
            code="request_timeout",
        ) from None


async def _receive_body(receive: Any, limit: int) -> bytes:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise _too_large(limit)
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            raise _too_large(limit)
        parts.append(part)
        if not message.get("more_body"):
            return b"".join(parts)


def _too_large(limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"The request body is larger than this gateway accepts ({limit} bytes; "
        "see server.max_body_size).",
        code="request_too_large",
    )


async def send_bytes(
    send: Any,
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    content_type: tuple[bytes, bytes] = _JSON,
) -> None:
    raw = [content_type, (b"content-length", str(len(body)).encode())]
    if headers:
        raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Any, status: int, data: Any, headers: Mapping[str, str] | None = None
) -> None:
    await send_bytes(send, status, orjson.dumps(data), headers)


async def send_error(send: Any, error: GatewayError) -> None:
    await send_bytes(send, error.status, error.body(), error.headers)


class DisconnectWatch:
    """Cancels the request's task when the client disconnects while we wait on upstream.

    Once the body is read, the next ASGI message can only be ``http.disconnect``. Cancelling
    the task unwinds the upstream request, which closes its connection: the provider stops
    generating (and billing) for a client that is gone.

    The watching task starts only once the call has lasted `START_AFTER` seconds. Most calls
    to a fast upstream are over by then, and a timer costs a fraction of a task: creating,
    cancelling and unwinding one was up to ~40 us a call on the benchmark machine (see
    benchmarks/). A client that leaves earlier is noticed when the watch starts: its
    disconnect waits in the queue.
    """

    START_AFTER = 0.05

    __slots__ = ("_receive", "_target", "_task", "_timer", "gone")

    def __init__(self, receive: Any) -> None:
        self.gone = False
        self._receive = receive
        target = asyncio.current_task()
        assert target is not None
        self._target = target
        self._task: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(self.START_AFTER, self._start)

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                self._target.cancel()
                return

    def stop(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()

    def absorb(self) -> bool:
        """After a CancelledError: True (and un-cancel) when our watch caused it."""
        if self.gone:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            return True
        return False
