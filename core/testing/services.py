"""The shared services (PostgreSQL, Redis) that scale-out tests talk to for real.

On a laptop without them, those tests skip with a message saying how to run them; in CI
(``LITEGATE_REQUIRE_SERVICES=1``, set by ``.ci/run``) a missing service fails the test.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

__all__ = ["POSTGRES_URL", "REDIS_URL", "REQUIRE_ENV", "require_service", "throwaway_database"]

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


@contextmanager
def throwaway_database(base_url: str = POSTGRES_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `base_url`, dropped afterwards; its
    URL. Each test that needs a whole database of its own (a gateway migrating at start-up,
    two processes sharing one) gets one, so parallel tests never see each other's rows."""
    import asyncpg
    from sqlalchemy import make_url

    name = f"litegate_test_{uuid.uuid4().hex[:16]}"
    base = make_url(base_url)
    dsn = base.render_as_string(hide_password=False)

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    # The name is ours (hex), so quoting it as an identifier is safe.
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
