"""Bad input over real HTTP: each answered with the right 4xx in the OpenAI error shape, never a
5xx, and the server healthy afterwards (the hardening issue)."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

CONFIG = """
[server]
max_body_size = "64KiB"
max_headers = 40
max_json_depth = 16
max_messages = 50
max_tools = 8
request_timeout = "1s"
max_concurrent_requests = 4

[[pipeline]]
plugin = "auth"
master_key = "sk-canary-master"

[[models]]
name = "m"
provider = "mock"

[[models]]
name = "slow"
provider = "mock"
latency = "2s"
"""
AUTH = {"authorization": "Bearer sk-canary-master", "content-type": "application/json"}
MSG = b'[{"role":"user","content":"hi"}]'


def _chat(extra: bytes = b"", messages: bytes = MSG) -> bytes:
    return b'{"model":"m","messages":' + messages + extra + b"}"


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


BAD_BODIES = {
    "empty": (b"", "invalid_json"),
    "not json": (b"hello", "invalid_json"),
    "invalid utf-8": (_chat(messages=b'[{"role":"user","content":"\xff\xfe"}]'), "invalid_json"),
    "lone surrogate": (
        _chat(messages=b'[{"role":"user","content":"\\ud800"}]'),
        "invalid_json",
    ),
    "raw NUL byte": (_chat(messages=b'[{"role":"user","content":"a\x00b"}]'), "invalid_json"),
    "huge integer": (_chat(b',"max_tokens":123456789012345678901234567890'), "invalid_type"),
    "infinite float": (_chat(b',"temperature":1e999'), "invalid_json"),
    "orjson depth": (_chat(b',"metadata":' + _nested(2000)), "invalid_json"),
    "our depth": (_chat(b',"metadata":' + _nested(40)), "nesting_too_deep"),
    "array body": (b"[1,2]", "invalid_json"),
    "messages a string": (_chat(messages=b'"hi"'), "invalid_type"),
    "message a number": (_chat(messages=b"[1]"), "invalid_type"),
    "role a number": (_chat(messages=b'[{"role":5,"content":"x"}]'), "invalid_value"),
    "content an object": (
        _chat(messages=b'[{"role":"user","content":{"a":1}}]'),
        "invalid_type",
    ),
    "stream a string": (_chat(b',"stream":"yes"'), "invalid_type"),
    "model missing": (b'{"messages":' + MSG + b"}", "missing_required_parameter"),
    "too many messages": (_chat(messages=b"[" + b",".join([MSG[1:-1]] * 51) + b"]"), None),
    "too many tools": (
        _chat(
            b',"tools":[' + b",".join([b'{"type":"function","function":{"name":"f"}}'] * 9) + b"]"
        ),
        "too_many_items",
    ),
    "api_base": (_chat(b',"api_base":"http://169.254.169.254"'), "forbidden_parameter"),
    "nested api_key": (_chat(b',"metadata":{"x":{"api_key":"k"}}'), "forbidden_parameter"),
    "custom headers": (_chat(b',"extra_headers":{"x-evil":"1"}'), "forbidden_parameter"),
    "too large": (_chat(b',"metadata":{"pad":"' + b"x" * 70000 + b'"}'), "request_too_large"),
}


@pytest.fixture(scope="module")
def server():
    from litegate import Gateway
    from litegate.testing.server import GatewayServer

    running = GatewayServer(Gateway.from_toml(CONFIG, env={})).start()
    yield running
    running.stop()


def _healthy(url: str) -> None:
    answer = httpx.post(url + "/v1/chat/completions", content=_chat(), headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_get_a_4xx_naming_the_problem(server, case):
    body, code = BAD_BODIES[case]
    answer = httpx.post(server.url + "/v1/chat/completions", content=body, headers=AUTH)
    assert 400 <= answer.status_code < 500, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code, error
    assert "169.254" not in answer.text
    _healthy(server.url)


def test_the_anthropic_route_survives_the_same_bodies(server):
    for body, _code in BAD_BODIES.values():
        answer = httpx.post(server.url + "/v1/messages", content=body, headers=AUTH)
        assert 400 <= answer.status_code < 500, answer.text
    _healthy(server.url)


def test_too_many_headers_is_431(server):
    headers = {**AUTH, **{f"x-h{i}": "1" for i in range(60)}}
    answer = httpx.post(server.url + "/v1/chat/completions", content=_chat(), headers=headers)
    assert answer.status_code == 431
    _healthy(server.url)


def test_a_body_that_trickles_in_gets_408(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"authorization: Bearer sk-canary-master\r\ncontent-type: application/json\r\n"
            b"content-length: 100\r\n\r\n{"
        )
        started = time.monotonic()
        answer = b""
        while b"}}" not in answer and time.monotonic() - started < 5:
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert b"request_timeout" in answer
        assert time.monotonic() - started < 5
    _healthy(server.url)


def test_past_max_concurrent_requests_the_excess_is_shed_with_503(server):
    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            body = b'{"model":"slow","messages":' + MSG + b"}"
            return await asyncio.gather(
                *(client.post("/v1/chat/completions", content=body, headers=AUTH) for _ in range(8))
            )

    answers = asyncio.run(main())
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 4 and statuses.count(503) == 4, statuses
    shed = next(a for a in answers if a.status_code == 503)
    assert shed.headers["retry-after"] == "1"
    assert shed.json()["error"]["code"] == "overloaded"
    # Health checks are not shed, and the worker serves again once the burst is over.
    assert httpx.get(server.url + "/health").status_code == 200
    _healthy(server.url)
