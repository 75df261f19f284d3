"""Redis stopped and restarted under traffic: with ``on_unavailable = "open"`` calls keep
succeeding, each within a bounded time, and the shared counters are used again once Redis
is back; with "closed" they get 503 + Retry-After meanwhile. A Redis server of the test's
own (on a free port), so the shared one is never touched."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from litegate.testing import free_port

KEY = "sk-ratelimit-outage-0123456789"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


@contextmanager
def redis_server(port: int) -> Iterator[None]:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                import redis

                redis.Redis(port=port, socket_connect_timeout=0.2).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(10)


def stored_keys(port: int) -> list[bytes]:
    """The plugin's keys in Redis. At 30 rpm, a call's window key lives 2 s."""
    import redis

    return sorted(redis.Redis(port=port).keys("*ratelimit:*"))


def gateway_toml(port: int, policy: str) -> str:
    return f"""
[state]
kv = "redis://127.0.0.1:{port}/0"

[[pipeline]]
plugin = "auth"
keys = [{{ name = "app", key = "{KEY}" }}]

[[pipeline]]
plugin = "ratelimit"
key_limits = {{ rpm = 30 }}
on_unavailable = "{policy}"
store_timeout = "500ms"
store_retry = "1s"

[[models]]
name = "m"
provider = "mock"
"""


def call(url: str) -> tuple[httpx.Response, float]:
    begun = time.monotonic()
    response = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=20,
    )
    return response, time.monotonic() - begun


def wait_until_shared(url: str, port: int) -> None:
    """Calls until one is counted in Redis again (the store is retried after 1 s)."""
    deadline = time.monotonic() + 15
    while not stored_keys(port):
        assert time.monotonic() < deadline, "the plugin never went back to Redis"
        response, _ = call(url)
        assert response.status_code == 200, response.text
        time.sleep(0.2)


def test_fail_open_through_a_redis_restart(serve_gateway):
    port = free_port()
    with redis_server(port):
        server = serve_gateway(gateway_toml(port, "open"))
        response, _ = call(server.url)
        assert response.status_code == 200
        assert stored_keys(port) == [b"litegate:ratelimit:key:app:rpm"]
    # Redis is gone: every call still succeeds, none waits long for the store.
    for _ in range(10):
        response, took = call(server.url)
        assert response.status_code == 200, response.text
        assert response.headers["x-ratelimit-limit-requests"] == "30"
        assert took < 3
    with redis_server(port):  # back, empty
        wait_until_shared(server.url, port)


def test_fail_closed_through_a_redis_restart(serve_gateway):
    port = free_port()
    with redis_server(port):
        server = serve_gateway(gateway_toml(port, "closed"))
        assert call(server.url)[0].status_code == 200
    for _ in range(5):
        response, took = call(server.url)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "rate_limit_unavailable"
        assert int(response.headers["retry-after"]) >= 1
        assert took < 3
    with redis_server(port):
        deadline = time.monotonic() + 15
        while call(server.url)[0].status_code != 200:
            assert time.monotonic() < deadline, "calls were still refused with Redis back"
            time.sleep(0.2)
        assert stored_keys(port)
