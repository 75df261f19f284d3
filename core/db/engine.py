"""Async engines for `[state] db`: SQLite through aiosqlite, PostgreSQL through asyncpg.

The config names a database the way operators write it (``sqlite:///PATH``,
``postgresql://...``); here it becomes the async driver's URL, and each SQLite connection
gets the settings several worker processes need to share one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, StaticPool

__all__ = ["async_url", "create_engine", "create_migration_engine", "display_url", "is_memory"]

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}

#: How long a SQLite connection waits for another process's write lock (milliseconds).
BUSY_TIMEOUT_MS = 5_000
#: Migrations wait longer: another worker may be running them right now.
MIGRATION_BUSY_TIMEOUT_MS = 60_000


def async_url(url: str | URL) -> URL:
    """The async-driver URL for a `[state] db` value; ValueError for other databases."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or postgresql://..."
        )
    return parsed.set(drivername=driver)


def display_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def is_memory(url: URL) -> bool:
    """An in-memory SQLite database (it lives as long as its engine)."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_engine(url: str | URL, *, echo: bool = False) -> AsyncEngine:
    """An engine for sessions: pooled, with SQLite tuned for several processes."""
    target = async_url(url)
    options: dict[str, Any] = {"echo": echo}
    if target.get_backend_name() == "postgresql":
        # A connection left over from a database restart fails once, then is replaced.
        options["pool_pre_ping"] = True
    elif is_memory(target):
        # Every connection to ":memory:" is a new, empty database: share one.
        options["poolclass"] = StaticPool
    engine = _build(target, options)
    if target.get_backend_name() == "sqlite":
        _on_sqlite_connect(engine, BUSY_TIMEOUT_MS, foreign_keys=True)
    return engine


def create_migration_engine(url: str | URL) -> AsyncEngine:
    """An unpooled engine whose transactions take the database-wide write lock on SQLite.

    Each transaction on SQLite starts with ``BEGIN IMMEDIATE``: a second process migrating
    at the same time waits for the first to commit, then finds nothing left to do. (On
    PostgreSQL the migration itself takes an advisory lock; see `litegate.db.migrate`.)
    """
    target = async_url(url)
    engine = _build(target, {"poolclass": StaticPool if is_memory(target) else NullPool})
    if target.get_backend_name() == "sqlite":
        # Foreign keys stay off: rebuilding a table (Alembic's batch mode) must not cascade.
        _on_sqlite_connect(engine, MIGRATION_BUSY_TIMEOUT_MS, foreign_keys=False)

        @event.listens_for(engine.sync_engine, "connect")
        def _manual_transactions(dbapi_connection: DBAPIConnection, _record: Any) -> None:
            # Stop the driver's own implicit BEGIN/COMMIT so ours below is the only one.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _build(target: URL, options: dict[str, Any]) -> AsyncEngine:
    if target.get_backend_name() == "sqlite" and not is_memory(target):
        assert target.database is not None
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        return create_async_engine(target, **options)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{exc}; PostgreSQL needs its driver: pip install 'litegate[postgres]'"
        ) from None


def _on_sqlite_connect(engine: AsyncEngine, busy_timeout_ms: int, *, foreign_keys: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # First the wait, so the statements below wait for other processes too.
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode")
            row = cursor.fetchone()
            if row is not None and str(row[0]).lower() not in ("wal", "memory"):
                # WAL: readers never wait for the writer. The mode is kept in the file.
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()
