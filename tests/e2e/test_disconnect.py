"""A client that goes away must not leave the gateway talking to the upstream: the upstream
connection closes within a second, mid-stream and while waiting for the first byte."""

from __future__ import annotations

import json
import socket
import time

import pytest


@pytest.fixture
def server(serve_gateway, fake_openai):
    return serve_gateway(f"""
[[pipeline]]
plugin = "logging"
path = "stderr"

[[models]]
name = "slow"
provider = "openai"
api_base = "{fake_openai.base_url}"
api_key = "sk-upstream"

[[models]]
name = "slow-stream"
provider = "openai"
api_base = "{fake_openai.base_url}"
api_key = "sk-upstream"
""")


def _open_request(server, model: str, stream: bool) -> socket.socket:
    body = json.dumps(
        {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n"
        b"content-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    return sock


def _wait_upstream_request(fake, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(fake.requests) <= count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fake.requests) > count, "the gateway never called the upstream"


@pytest.mark.parametrize("stream", [False, True])
def test_disconnect_while_waiting_for_first_byte(server, fake_openai, stream):
    seen, before = len(fake_openai.requests), len(fake_openai.disconnects)
    sock = _open_request(server, "slow", stream)
    _wait_upstream_request(fake_openai, seen)
    time.sleep(0.2)  # the upstream is now holding the request
    closed_at = time.monotonic()
    sock.close()
    noticed = fake_openai.wait_disconnect(timeout=5, after=before)
    assert noticed is not None, "the upstream connection stayed open"
    assert noticed - closed_at < 1.0


def test_disconnect_mid_stream(server, fake_openai):
    before = len(fake_openai.disconnects)
    sock = _open_request(server, "slow-stream", True)
    received = b""
    sock.settimeout(5)
    while b"data: " not in received:  # the first chunk reached us; upstream now holds
        received += sock.recv(65536)
    assert b" 200 " in received.split(b"\r\n", 1)[0]
    closed_at = time.monotonic()
    sock.close()
    noticed = fake_openai.wait_disconnect(timeout=5, after=before)
    assert noticed is not None, "the upstream connection stayed open"
    assert noticed - closed_at < 1.0
