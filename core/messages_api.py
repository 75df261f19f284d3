"""The Anthropic-compatible API: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

A Messages request is translated to the canonical (OpenAI) request and runs through the same
pipeline as ``/v1/chat/completions``; the answer is translated back: a Message, or the
Messages event stream (``message_start`` ... ``message_stop``). Errors come in Anthropic's
shape, ``{"type": "error", "error": {"type", "message"}}``. Anthropic SDKs send their key as
``x-api-key``, which the auth plugin reads.

The client's own body rides along in ``call.stash`` (`OriginalRequest`), so an Anthropic
deployment gets it without a detour through the OpenAI format, and its answer comes back
untranslated -- unless a plugin changed the request, or looks at the answer.
"""

from __future__ import annotations

import asyncio
import math
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
)
from .errors import GatewayError
from .translation.anthropic import ORIGINAL_REQUEST, OriginalRequest, error_body
from .translation.anthropic_inbound import to_anthropic_message, to_openai_request
from .translation.anthropic_stream import EventsFromChunks, encode_event

if TYPE_CHECKING:
    from .gateway import Gateway
    from .pipeline import Run

__all__ = ["CountTokensEndpoint", "MessagesEndpoint", "estimate_input_tokens"]


async def _send_error(send: Any, error: GatewayError) -> None:
    await send_bytes(send, error.status, error_body(error), error.headers)


class MessagesEndpoint:
    """POST /v1/messages."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.max_body = int(gateway.config.server.max_body_size)
        self.body_deadline = float(gateway.config.server.request_timeout)
        hooks = gateway.dispatcher
        # Upstream events can go out as they came only when no plugin looks at stream chunks.
        self.raw_events = not hooks.impls("on_stream_chunk") and not hooks.impls("on_stream_end")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = request_headers(scope)
        try:
            body = parse_json(await read_body(receive, headers, self.max_body, self.body_deadline))
            try:
                request = to_openai_request(body)
            except GatewayError:
                await self.gateway.authenticate(headers)  # strangers get 401, not hints
                raise
            call = self.gateway.new_call(
                "chat", request, headers=headers, request_id=scope.get("litegate.request_id")
            )
        except GatewayError as error:
            await _send_error(send, error)
            return
        except ClientGone:
            return
        original = OriginalRequest.of(body, request, self.raw_events)
        call.stash[ORIGINAL_REQUEST] = original
        watch = DisconnectWatch(receive)
        try:
            run = await self.gateway.run(call)
            if run.stream is None:
                await self._send_message(run, original, send)
            else:
                await self._send_stream(run, original, send)
            watch.stop()
        except GatewayError as error:
            watch.stop()
            await _send_error(send, error)
        except asyncio.CancelledError:
            if not watch.absorb():
                raise

    async def _send_message(self, run: Run, original: OriginalRequest, send: Any) -> None:
        reply = run.reply
        assert reply is not None
        try:
            untouched = original.reply is not None and (
                reply.raw is original.reply_openai or reply.body() == original.reply_openai
            )
            if untouched:
                assert original.reply is not None
                body = original.reply
            else:
                body = orjson.dumps(to_anthropic_message(reply.data))
            headers = {**reply.headers, **run.call.response_headers}
            await send_bytes(send, reply.status, body, headers)
        except BaseException as exc:
            await run.finish(exc)
            raise
        await run.finish()

    async def _send_stream(self, run: Run, original: OriginalRequest, send: Any) -> None:
        assert run.stream is not None
        call = run.call
        extra = {**run.stream.headers, **call.response_headers}
        start = SSE_HEADERS + [(k.encode(), v.encode()) for k, v in extra.items()]
        # The adapter of an Anthropic deployment that got the original body leaves its
        # upstream's events in `original.events`; other answers are translated chunk by chunk.
        raw = original.events is not None
        writer = EventsFromChunks(call.alias)
        async with aclosing(run.chunks()) as chunks:
            await send({"type": "http.response.start", "status": 200, "headers": start})
            try:
                async for chunk in chunks:
                    data = original.take_events() if raw else b"".join(writer.feed(chunk))
                    if data:
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                tail = original.take_events() if raw else writer.finish()
            except GatewayError as error:
                # After 200 the error goes in the stream, as Anthropic sends it.
                pending = original.take_events() if raw else b""
                tail = pending + encode_event("error", orjson.loads(error_body(error)))
            await send({"type": "http.response.body", "body": tail, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


class CountTokensEndpoint:
    """POST /v1/messages/count_tokens: an estimate, see `estimate_input_tokens`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.max_body = int(gateway.config.server.max_body_size)
        self.body_deadline = float(gateway.config.server.request_timeout)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = request_headers(scope)
        try:
            body = parse_json(await read_body(receive, headers, self.max_body, self.body_deadline))
            await self.gateway.authenticate(headers)
            model = body.get("model") if isinstance(body, dict) else None
            if not isinstance(model, str) or not isinstance(body.get("messages"), list):
                raise GatewayError(400, "'model' and 'messages' are required.", param="model")
            if model not in self.gateway.deployments:
                raise GatewayError(
                    404,
                    f"The model '{model}' does not exist or is not served by this gateway.",
                    param="model",
                    code="model_not_found",
                )
            count = estimate_input_tokens(body)
        except GatewayError as error:
            await _send_error(send, error)
            return
        except ClientGone:
            return
        await send_bytes(send, 200, orjson.dumps({"input_tokens": count}))


#: Characters per token: the usual rule of thumb for English text and code.
CHARS_PER_TOKEN = 4
#: Tokens per image: Anthropic's documented cost of an image at its largest size before
#: downscaling (about 1.15 megapixels / 750 pixels per token).
TOKENS_PER_IMAGE = 1600
#: Tokens per message for the role and turn markers.
TOKENS_PER_MESSAGE = 3


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """An estimate of a Messages request's input tokens, with no tokenizer.

    Text (system, messages, tool definitions, tool inputs and results) counts one token per
    `CHARS_PER_TOKEN` characters, rounded up; each image counts `TOKENS_PER_IMAGE`; each
    message adds `TOKENS_PER_MESSAGE`. Documents are counted by their text only. Expect it
    to be within about 20% of the real count for English prose, less close for other text.
    """
    chars = _chars(body.get("system"))
    images = 0
    messages = body.get("messages") or []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        chars_here, images_here = _content(content)
        chars += chars_here
        images += images_here
    for tool in body.get("tools") or ():
        chars += len(orjson.dumps(tool))
    tokens = math.ceil(chars / CHARS_PER_TOKEN)
    return tokens + images * TOKENS_PER_IMAGE + len(messages) * TOKENS_PER_MESSAGE


def _content(content: Any) -> tuple[int, int]:
    if isinstance(content, str):
        return len(content), 0
    chars = images = 0
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "image":
            images += 1
        elif kind == "tool_use":
            chars += len(orjson.dumps(block.get("input") or {})) + len(block.get("name") or "")
        elif kind == "tool_result":
            inner_chars, inner_images = _content(block.get("content"))
            chars += inner_chars
            images += inner_images
        else:
            chars += _chars(block.get("text") or block.get("thinking"))
    return chars, images


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(b.get("text") or "") for b in value if isinstance(b, dict))
    return 0
