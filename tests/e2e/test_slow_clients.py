"""Slow clients can't hold the gateway: 50 connections sending their request head a byte a
second don't delay normal requests (p99 within 100 ms of the same requests without them), and
the server closes them once `keep_alive_timeout` passes without a whole head."""

from __future__ import annotations

import socket
import statistics
import threading
import time

import httpx
import pytest

from litegate import Gateway
from litegate.testing.server import GatewayServer

CONFIG = """
[server]
keep_alive_timeout = "3s"

[[models]]
name = "m"
provider = "mock"
"""
HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"


def _p99(client: httpx.Client, count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200
    return statistics.quantiles(times, n=100)[98]


def _drip(port: int, stop: threading.Event, closed: list[bool]) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        for byte in HEAD:
            if stop.is_set():
                return
            sock.sendall(bytes([byte]))
            if stop.wait(1.0):
                return
    except OSError:
        closed.append(True)  # the server hung up on us: what should happen
    finally:
        sock.close()


@pytest.mark.timeout(120)
def test_a_byte_a_second_does_not_slow_anyone_else():
    server = GatewayServer(Gateway.from_toml(CONFIG, env={})).start()
    stop = threading.Event()
    closed: list[bool] = []
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            _p99(client, 30)  # warm up
            baseline = _p99(client, 100)
            drippers = [
                threading.Thread(target=_drip, args=(server.port, stop, closed), daemon=True)
                for _ in range(50)
            ]
            for thread in drippers:
                thread.start()
            time.sleep(1.5)  # every slow connection is open and dripping
            during = _p99(client, 100)
            assert during - baseline < 0.100, (baseline, during)
            # Hypercorn's idle timer runs until a whole head arrives: after the keep-alive
            # timeout the slow connections are closed, and the next send fails.
            deadline = time.monotonic() + 20
            while len(closed) < 50 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(closed) == 50
    finally:
        stop.set()
        server.stop()
