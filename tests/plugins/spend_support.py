"""Shared by the cost, spend and budget tests: a principal plugin, ledger reads, database
outages, and a webhook receiver."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import make_url, select

from litegate import Call, GatewayError, Principal, hookimpl
from litegate.db import Database, SpendRow

#: Bearer token -> principal, for `PrincipalsPlugin`.
PRINCIPALS: dict[str, Principal] = {
    "k-admin": Principal("k-admin", "test", role="admin"),
    "k-alice": Principal("k-alice", "test", user="alice", team="t1", org="o1", role="member"),
    "k-bob": Principal("k-bob", "test", user="bob", team="t2", org="o1", role="member"),
    "k-team1-admin": Principal("k-team1-admin", "test", team="t1", org="o1", role="team_admin"),
    "k-org1-admin": Principal("k-org1-admin", "test", org="o1", role="org_admin"),
    "k-org2-admin": Principal("k-org2-admin", "test", org="o2", role="org_admin"),
    "k-viewer": Principal("k-viewer", "test", role="viewer"),
}


class PrincipalsPlugin:
    """Authenticates ``Bearer <name>`` as ``PRINCIPALS[name]`` (a copy); anything else: 401.
    Principals may also be registered at run time in `extra` (a race test's team id)."""

    extra: dict[str, Principal] = {}

    @hookimpl
    def authenticate(self, call: Call) -> Principal | None:
        token = call.headers.get("authorization", "").removeprefix("Bearer ").strip()
        found = PRINCIPALS.get(token) or self.extra.get(token)
        if found is None:
            raise GatewayError(401, "Invalid API key.", code="invalid_api_key")
        return Principal(
            found.id,
            found.kind,
            team=found.team,
            role=found.role,
            user=found.user,
            org=found.org,
        )


def ledger_rows(url: str) -> dict[str, SpendRow]:
    """Every ledger row, by request id."""

    async def read() -> dict[str, SpendRow]:
        db = Database(url)
        await db.connect()
        try:
            async with db.session() as session:
                rows = (await session.execute(select(SpendRow))).scalars().all()
            return {row.request_id: row for row in rows}
        finally:
            await db.aclose()

    return asyncio.run(read())


def wait_for(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy (generous: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:
            result = None
            if time.monotonic() > deadline:
                raise
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {check}")
        time.sleep(interval)


@contextmanager
def database_outage(url: str) -> Iterator[None]:
    """Make the records database refuse writes until the block ends: an exclusive lock on a
    SQLite file; on PostgreSQL, no connections allowed to the (throwaway) database and its
    backends terminated. Never touches any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        connection = sqlite3.connect(parsed.database, timeout=30, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    name = parsed.database
    assert name and name.startswith("litegate_test_"), "only throwaway databases"
    admin = parsed.set(database="test").render_as_string(hide_password=False)

    async def run(*statements: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(admin)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(
        run(
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        )
    )
    try:
        yield
    finally:
        asyncio.run(run(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))


class WebhookReceiver:
    """A tiny local HTTP server that keeps the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
