"""A fast fake OpenAI upstream: raw asyncio (uvloop when installed) HTTP/1.1 with keep-alive.

It must never be the bottleneck, so it is a bare protocol, not a framework: parse the request
head, read ``content-length`` bytes, answer from pre-built bytes. Behaviour follows the
request's ``model``:

- any name: a chat completion (or, with ``"stream": true``, 20 ``chat.completion.chunk``
  events, a usage chunk when ``stream_options.include_usage``, then ``data: [DONE]``);
  stream events are sent ``--chunk-interval`` apart (default 1 ms) so each one is its own
  network read downstream, as with a real model;
- a name starting with ``slow``: the same chat answer after 200 ms;
- POST /v1/embeddings: one 1536-float embedding per input.

Run: ``python -m benchmarks.upstream --port 9100``.
"""

from __future__ import annotations

import argparse
import asyncio
import random

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


def _response(body: bytes, status: bytes = b"200 OK") -> bytes:
    head = (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
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
            head = self.buffer[:end]
            length = 0
            at = head.lower().find(b"\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 1)
                length = int(head[at + 16 : stop if stop > 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.answer(head[: head.find(b"\r\n")], body)

    def answer(self, request_line: bytes, body: bytes) -> None:
        assert self.transport is not None
        path = request_line.split(b" ", 2)[1]
        if path.endswith(b"/chat/completions"):
            request = orjson.loads(body)
            if request.get("stream") is True:
                options = request.get("stream_options") or {}
                events = _STREAMS[options.get("include_usage") is True]
                self.busy = True
                asyncio.get_running_loop().create_task(self.stream(events))
            elif str(request.get("model", "")).startswith("slow"):
                self.busy = True
                asyncio.get_running_loop().call_later(SLOW_SECONDS, self.slow_reply)
            else:
                self.transport.write(_CHAT)
        elif path.endswith(b"/embeddings"):
            self.transport.write(_EMBEDDING)
        else:
            self.transport.write(_NOT_FOUND)

    def slow_reply(self) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(_CHAT)
        self.done()

    async def stream(self, events: list[bytes]) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(_STREAM_HEAD)
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
