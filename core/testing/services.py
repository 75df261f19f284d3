"""The shared services (PostgreSQL, Redis) that scale-out tests talk to for real.

On a laptop without them, those tests skip with a message saying how to run them; in CI
(``LITEGATE_REQUIRE_SERVICES=1``, set by ``.ci/run``) a missing service fails the test.
"""

from __future__ import annotations

import os
import socket

import pytest

__all__ = ["POSTGRES_URL", "REDIS_URL", "REQUIRE_ENV", "require_service"]

REQUIRE_ENV = "LITEGATE_REQUIRE_SERVICES"
POSTGRES_URL = os.environ.get("LITEGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LITEGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def require_service(name: str, host: str, port: int, *, env: dict[str, str] | None = None) -> None:
    """Skip (or, when required, fail) unless `host:port` accepts connections."""
    try:
        socket.create_connection((host, port), timeout=2).close()
        return
    except OSError as exc:
        reason = f"{name} is not reachable at {host}:{port} ({exc.strerror or exc})"
    environment = os.environ if env is None else env
    if environment.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 requires it", pytrace=False)
    pytest.skip(
        f"{reason}. Start it (see .ci/run) and set {REQUIRE_ENV}=1 to run these tests.",
    )
