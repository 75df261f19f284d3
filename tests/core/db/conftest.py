"""Every storage test runs on SQLite (a file under tmp_path) and on PostgreSQL.

On PostgreSQL, `db_url` is a throwaway database made from the `test` one for that test
alone; `db` shares one migrated throwaway database per test process (so per xdist worker)
and empties its tables before each test; on SQLite each test gets a
copy of a migrated file. Both are dropped afterwards; nothing else is.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from litegate.db import Base, Database
from litegate.testing.services import POSTGRES_URL, require_service, throwaway_database

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database: `sqlite:///...` or `postgresql://...`, as a config would name it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/state/litegate.db"
        return
    with throwaway_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with throwaway_database(POSTGRES_URL) as url:
        asyncio.run(Database(url).upgrade())
        yield url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "litegate.db"
    asyncio.run(Database(f"sqlite:///{path}").upgrade())
    return path


@pytest.fixture(params=BACKENDS)
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where `db` lives (resolved outside the event loop: making a database runs its own)."""
    if request.param == "sqlite":
        # A copy of a migrated file: the same as migrating, without the wait.
        path = tmp_path / "litegate.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        return f"sqlite:///{path}"
    request.getfixturevalue("postgres_url")
    url: str = request.getfixturevalue("migrated_postgres")
    return url


@pytest.fixture
async def db(db_target: str) -> AsyncIterator[Database]:
    """A migrated, connected, empty Database."""
    database = Database(db_target)
    await database.connect()
    if database.dialect == "postgresql":
        async with database.session() as session:
            for table in reversed(Base.metadata.sorted_tables):
                await session.execute(table.delete())
    try:
        yield database
    finally:
        await database.aclose()
