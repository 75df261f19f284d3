"""The switch that makes service-backed tests required in CI and skipped on a laptop."""

from __future__ import annotations

import socket

import pytest

from litegate.testing import free_port
from litegate.testing.services import REQUIRE_ENV, require_service


def test_missing_service_skips_with_instructions():
    with pytest.raises(pytest.skip.Exception, match=f"set {REQUIRE_ENV}=1"):
        require_service("Nothing", "127.0.0.1", free_port(), env={})


def test_missing_service_fails_when_required():
    with pytest.raises(pytest.fail.Exception, match="requires it"):
        require_service("Nothing", "127.0.0.1", free_port(), env={REQUIRE_ENV: "1"})


def test_redis_answers(redis_url):
    with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(16).startswith(b"+PONG")


def test_postgres_accepts_connections(postgres_url):
    assert postgres_url.startswith("postgresql://")
    with socket.create_connection(("127.0.0.1", 5432), timeout=2) as sock:
        # An SSLRequest: a PostgreSQL server answers with one byte, 'S' or 'N'.
        sock.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")
        assert sock.recv(1) in (b"S", b"N")
