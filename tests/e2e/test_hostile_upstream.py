"""Upstream answers are untrusted input: truncated JSON, a body cut short, HTML error pages,
wrong content types, malformed SSE, a drip-fed stream, a connection reset mid-stream and a
gigantic body each end in a clean error for the client (an OpenAI-shaped 5xx, or for a
stream that already started, a well-formed error event), and leave no connection or file
descriptor behind (the hardening issue)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from litegate import Gateway
from litegate.testing.server import GatewayServer, free_port

CHUNK = orjson.dumps(
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "x",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
    }
)


def _head(status: str, kind: str, length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"content-type: {kind}"]
    lines.append(
        f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class HostileUpstream:
    """A raw HTTP/1.1 server whose behaviour is chosen by the request's `model`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HostileUpstream:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        await self._stop.wait()
        server.close()
        # Handlers still sleeping (drip, huge) are cancelled, so their sockets get closed.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            request = orjson.loads(await reader.readexactly(length))
            await getattr(self, "_" + request["model"])(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _truncated(self, writer):
        body = b'{"id":"x","object":"chat.completion","choices":['
        writer.write(_head("200 OK", "application/json", len(body)) + body)
        await writer.drain()

    async def _cut(self, writer):
        writer.write(_head("200 OK", "application/json", 500) + b'{"id":"x","obj')
        await writer.drain()

    async def _html_error(self, writer):
        body = b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
        writer.write(_head("502 Bad Gateway", "text/html", len(body)) + body)
        await writer.drain()

    async def _html_ok(self, writer):
        body = b"<html><body>Sign in to continue</body></html>"
        writer.write(_head("200 OK", "text/html", len(body)) + body)
        await writer.drain()

    async def _not_json_object(self, writer):
        body = b"[1, 2, 3]"
        writer.write(_head("200 OK", "application/json", len(body)) + body)
        await writer.drain()

    async def _huge(self, writer):
        writer.write(_head("200 OK", "application/json", 200 * 1024 * 1024) + b'{"id":"')
        for _ in range(64):  # a few MB, then stall: the gateway must not wait for 200 MB
            writer.write(b"x" * 65536)
            await writer.drain()
        await asyncio.sleep(5)

    async def _bad_sse(self, writer):
        writer.write(_head("200 OK", "text/event-stream"))
        writer.write(_chunked(b"data: " + CHUNK + b"\n\n"))
        writer.write(_chunked(b"data: {this is not json\n\n"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _drip(self, writer):
        writer.write(_head("200 OK", "text/event-stream"))
        writer.write(_chunked(b"data: " + CHUNK + b"\n\n"))
        await writer.drain()
        await asyncio.sleep(10)  # then silence, longer than the deployment's timeout

    async def _reset(self, writer):
        writer.write(_head("200 OK", "text/event-stream"))
        writer.write(_chunked(b"data: " + CHUNK + b"\n\n"))
        await writer.drain()
        await asyncio.sleep(0.1)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


NON_STREAM = ["truncated", "cut", "html_error", "html_ok", "not_json_object", "huge"]
STREAMS = ["bad_sse", "drip", "reset"]


def _config(upstream: HostileUpstream) -> str:
    models = "\n".join(
        f"""
[[models]]
name = "{name}"
provider = "openai"
api_base = "{upstream.url}/v1"
api_key = "sk-upstream-canary"
timeout = "1s"
"""
        for name in NON_STREAM + STREAMS
    )
    return models


@pytest.fixture(scope="module")
def setup():
    with HostileUpstream() as upstream:
        server = GatewayServer(Gateway.from_toml(_config(upstream), env={})).start()
        yield server, upstream
        server.stop()


def _connections_to(port: int) -> dict[str, int]:
    """The machine's TCP connections whose far end is `port`, counted by state (from
    /proc/net/tcp: the gateway's side of its connections to the upstream). The test process
    hosts other tests' servers too, so counting all its descriptors would measure them."""
    states = {"01": "established", "08": "close_wait"}
    counts = {"established": 0, "close_wait": 0}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[3] in states:
            counts[states[fields[3]]] += 1
    return counts


@pytest.mark.parametrize("model", NON_STREAM)
def test_a_broken_answer_is_a_clean_5xx(setup, model):
    server, _upstream = setup
    answer = httpx.post(
        server.base_url + "/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert 500 <= answer.status_code < 600, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "sk-upstream-canary" not in answer.text
    assert "<html" not in answer.text  # the upstream's page is not passed off as ours


@pytest.mark.parametrize("model", STREAMS)
def test_a_broken_stream_ends_with_an_error_event(setup, model):
    server, _upstream = setup
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=30)
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            received.append(chunk)
    assert received and received[0].choices[0].delta.content == "Hi"
    assert "sk-upstream-canary" not in str(raised.value)


def test_nothing_is_left_open(setup):
    server, _upstream = setup
    for model in NON_STREAM + STREAMS:  # warm every path once
        httpx.post(
            server.base_url + "/chat/completions",
            json={
                "model": model,
                "messages": [{"role": "user", "content": "x"}],
                "stream": model in STREAMS,
            },
            timeout=30,
        )
    for _ in range(3):
        for model in NON_STREAM + STREAMS:
            httpx.post(
                server.base_url + "/chat/completions",
                json={
                    "model": model,
                    "messages": [{"role": "user", "content": "x"}],
                    "stream": model in STREAMS,
                },
                timeout=30,
            )
    # Every broken exchange closed its upstream connection: none is left half-closed (the
    # upstream gone, the gateway still holding it), and at most the pool's few idle ones
    # stay open -- not one per failure.
    deadline = time.monotonic() + 10
    while True:
        counts = _connections_to(_upstream.port)
        if counts["close_wait"] == 0 and counts["established"] <= 3:
            break
        assert time.monotonic() < deadline, counts
        time.sleep(0.2)
    assert httpx.get(server.url + "/health").status_code == 200
