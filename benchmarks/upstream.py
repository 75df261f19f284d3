"""A fast fake upstream, OpenAI and Anthropic: raw asyncio (uvloop when installed) HTTP/1.1.

It must never be the bottleneck, so it is a bare protocol, not a framework: parse the request
head, read ``content-length`` bytes, answer from pre-built bytes. Behaviour follows the
request's ``model``:

- any name: a chat completion (or, with ``"stream": true``, 20 ``chat.completion.chunk``
  events, a usage chunk when ``stream_options.include_usage``, then ``data: [DONE]``);
  stream events are sent ``--chunk-interval`` apart (default 1 ms) so each one is its own
  network read downstream, as with a real model;
- a name starting with ``slow``: the same chat answer after 200 ms;
- POST /v1/embeddings: one 1536-float embedding per input;
- POST /v1/messages: Anthropic's Messages API (needs ``x-api-key``): a Message with one text
  block, or with ``"stream": true`` the event stream Anthropic sends -- ``message_start``,
  ``content_block_start``, ``ping``, 20 ``text_delta``s, ``content_block_stop``,
  ``message_delta`` (cumulative usage), ``message_stop`` -- in 22 writes, as many network
  reads as the OpenAI stream: the opening events go with the first delta and the closing
  ones together, as Anthropic's do. ``slow`` models answer after 200 ms here too.

Run: ``python -m benchmarks.upstream --port 9100``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from typing import Any

import orjson

CHUNKS = 20
SLOW_SECONDS = 0.2
EMBEDDING_DIMENSIONS = 1536

_USAGE = {"prompt_tokens": 9, "completion_tokens": CHUNKS, "total_tokens": 9 + CHUNKS}


def _chat_body() -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "bench",
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello! " * CHUNKS},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _USAGE,
        }
    )


def _stream_events(include_usage: bool) -> list[bytes]:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench",
        "system_fingerprint": "fp_bench",
    }
    events = []
    for i in range(CHUNKS):
        delta = {"role": "assistant", "content": ""} if i == 0 else {"content": "Hello! "}
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        if i == CHUNKS - 1:
            choice["finish_reason"] = "stop"
        chunk = {**base, "choices": [choice]}
        if include_usage:
            chunk["usage"] = None
        events.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
    if include_usage:
        events.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": _USAGE}) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


# Anthropic's Messages API, byte for byte as it answers (``shared/specs/anthropic.md``).
_MESSAGE_ID = "msg_01BenchXFDUDYJgAACzvnptvV"
_ANTHROPIC_MODEL = "claude-bench"
_ANTHROPIC_USAGE = {
    "input_tokens": 9,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    "output_tokens": CHUNKS,
    "service_tier": "standard",
}


def _anthropic_message(content: list[dict[str, Any]], final: bool) -> dict[str, Any]:
    return {
        "id": _MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": _ANTHROPIC_MODEL,
        "content": content,
        "stop_reason": "end_turn" if final else None,
        "stop_sequence": None,
        "usage": {**_ANTHROPIC_USAGE, "output_tokens": CHUNKS if final else 1},
    }


def _message_body() -> bytes:
    text = {"type": "text", "text": "Hello! " * CHUNKS}
    return orjson.dumps(_anthropic_message([text], final=True))


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return (
        b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **payload}) + b"\n\n"
    )


def _message_events() -> list[bytes]:
    """The stream in the writes it is sent in (each becomes one network read downstream)."""
    deltas = [
        _event(
            "content_block_delta",
            {"index": 0, "delta": {"type": "text_delta", "text": "Hello! "}},
        )
        for _ in range(CHUNKS)
    ]
    # message_start goes as soon as the request is accepted; the block's start and a ping
    # come with the first token, and the closing events all at once.
    start = _event("message_start", {"message": _anthropic_message([], final=False)})
    first = (
        _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        + b'event: ping\ndata: {"type": "ping"}\n\n'  # Anthropic's own spacing
    )
    usage = {
        k: _ANTHROPIC_USAGE[k]
        for k in (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
        )
    }
    closing = (
        _event("content_block_stop", {"index": 0})
        + _event(
            "message_delta",
            {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": usage},
        )
        + _event("message_stop", {})
    )
    return [start, first + deltas[0], *deltas[1:], closing]


def _embedding_body(inputs: int) -> bytes:
    rng = random.Random(42)
    vector = [round(rng.uniform(-0.1, 0.1), 9) for _ in range(EMBEDDING_DIMENSIONS)]
    data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(inputs)]
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": "bench-embed",
            "usage": {"prompt_tokens": 5 * inputs, "total_tokens": 5 * inputs},
        }
    )


def _response(body: bytes, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    head = (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: application/json\r\n"
        + extra
        + b"content-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    return head + body


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_CHAT = _response(_chat_body())
_EMBEDDING = _response(_embedding_body(1))
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
_STREAMS = {flag: [_chunked(e) for e in _stream_events(flag)] for flag in (False, True)}
_REQUEST_ID = b"request-id: req_01BenchRequest\r\n"
_MESSAGE = _response(_message_body(), extra=_REQUEST_ID)
_MESSAGE_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\n" + _REQUEST_ID + b"transfer-encoding: chunked\r\n\r\n"
)
_MESSAGE_STREAM = [_chunked(e) for e in _message_events()]
_NO_API_KEY = _response(
    b'{"type":"error","error":{"type":"authentication_error","message":"x-api-key header is '
    b'required"},"request_id":"req_01BenchRequest"}',
    b"401 Unauthorized",
    _REQUEST_ID,
)
_NOT_FOUND = _response(b'{"error":{"message":"not found","type":"invalid_request_error"}}', b"404")


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection; requests are answered in order (no pipelining needed)."""

    def __init__(self, chunk_interval: float) -> None:
        self.chunk_interval = chunk_interval
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.busy = False  # a stream or a slow answer is still being written

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP server: always Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while not self.busy:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 1)
                length = int(head[at + 16 : stop if stop > 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.answer(head, body)

    def answer(self, head: bytes, body: bytes) -> None:
        """`head`: the request line and headers, lower-cased."""
        assert self.transport is not None
        path = head[: head.find(b"\r\n")].split(b" ", 2)[1]
        if path.endswith(b"/chat/completions"):
            request = orjson.loads(body)
            if request.get("stream") is True:
                options = request.get("stream_options") or {}
                self.start_stream(_STREAM_HEAD, _STREAMS[options.get("include_usage") is True])
            elif str(request.get("model", "")).startswith("slow"):
                self.reply_later(_CHAT)
            else:
                self.transport.write(_CHAT)
        elif path.endswith(b"/messages"):
            request = orjson.loads(body)
            if b"\nx-api-key:" not in head:
                self.transport.write(_NO_API_KEY)
            elif request.get("stream") is True:
                self.start_stream(_MESSAGE_STREAM_HEAD, _MESSAGE_STREAM)
            elif str(request.get("model", "")).startswith("slow"):
                self.reply_later(_MESSAGE)
            else:
                self.transport.write(_MESSAGE)
        elif path.endswith(b"/embeddings"):
            self.transport.write(_EMBEDDING)
        else:
            self.transport.write(_NOT_FOUND)

    def start_stream(self, head: bytes, events: list[bytes]) -> None:
        self.busy = True
        asyncio.get_running_loop().create_task(self.stream(head, events))

    def reply_later(self, response: bytes) -> None:
        self.busy = True
        asyncio.get_running_loop().call_later(SLOW_SECONDS, self.slow_reply, response)

    def slow_reply(self, response: bytes) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(response)
        self.done()

    async def stream(self, head: bytes, events: list[bytes]) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(head)
        for event in events:
            if self.chunk_interval:
                await asyncio.sleep(self.chunk_interval)
            if transport.is_closing():
                return
            transport.write(event)
        transport.write(b"0\r\n\r\n")
        self.done()

    def done(self) -> None:
        self.busy = False
        if self.buffer:
            self.data_received(b"")


async def serve(host: str, port: int, chunk_interval: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: UpstreamProtocol(chunk_interval), host, port, backlog=4096, reuse_address=True
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunk-interval", type=float, default=0.001, help="seconds")
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(serve(args.host, args.port, args.chunk_interval))


if __name__ == "__main__":
    main()
