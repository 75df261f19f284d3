"""Alembic, run from code: upgrade to the newest revision under a lock, read the current one.

Several workers may start at once, each upgrading the database. The whole upgrade runs in
one transaction that first takes a lock held until it commits: a PostgreSQL advisory lock,
or SQLite's write lock (``BEGIN IMMEDIATE``, see `create_migration_engine`). Whoever comes
second waits, then finds the database already at head and does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from .engine import create_migration_engine

__all__ = [
    "MIGRATIONS",
    "alembic_config",
    "current_revision",
    "head_revision",
    "locked",
    "run_locked",
    "upgrade",
]

T = TypeVar("T")

MIGRATIONS = Path(__file__).with_name("migrations")

#: The PostgreSQL advisory lock migrations hold (the bytes of "litegate"); advisory locks
#: are per database, so other databases on the same server are not affected.
ADVISORY_LOCK_ID = int.from_bytes(b"litegate", "big")


def alembic_config(url: str | URL | None = None) -> Config:
    """Alembic's configuration, without an alembic.ini: the migrations ship in the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        # ConfigParser interpolates "%": a password may hold one.
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision this version of litegate knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "litegate ships at least one migration"
    return head


def locked(connection: Connection) -> None:
    """Take the migration lock for the rest of `connection`'s transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
    # SQLite: the transaction began with BEGIN IMMEDIATE, which is the lock.


async def run_locked(target: str | URL | AsyncEngine, work: Callable[[Connection], T]) -> T:
    """Run `work` on a connection to `target`, in one transaction that holds the lock.

    `target` is a URL, or an engine to borrow (an in-memory SQLite database lives only as
    long as its engine, and nothing else can reach it to race).
    """
    engine = target if isinstance(target, AsyncEngine) else create_migration_engine(target)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(lambda sync: _locked_work(sync, work))
    finally:
        if engine is not target:
            await engine.dispose()


def _locked_work(connection: Connection, work: Callable[[Connection], T]) -> T:
    locked(connection)
    return work(connection)


async def upgrade(target: str | URL | AsyncEngine, revision: str = "head") -> str | None:
    """Migrate the database at `target` to `revision`; return the revision it is then at."""

    def migrate(connection: Connection) -> str | None:
        config = alembic_config()
        # env.py runs the migrations on this connection, inside our locked transaction.
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return MigrationContext.configure(connection).get_current_revision()

    return await run_locked(target, migrate)


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None when it was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()
