"""From `[state] db` URLs to async engines, and the SQLite settings several workers need."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url, text

from litegate.db import Database, async_url, display_url, queries


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:///.litegate/litegate.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg"),
        ("postgres://u@h/d", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg"),
    ],
)
def test_config_urls_map_to_async_drivers(given, driver):
    url = async_url(given)
    assert url.drivername == driver
    assert url.database == make_url(given).database


def test_other_databases_are_refused():
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        async_url("mysql://u@h/d")


def test_display_url_hides_the_password():
    shown = display_url("postgresql://admin:hunter2@db.internal/litegate")
    assert "hunter2" not in shown
    assert "admin:***@db.internal" in shown
    assert "hunter2" not in repr(Database("postgresql://admin:hunter2@db.internal/litegate"))


async def test_sqlite_file_directory_is_created_and_tuned(tmp_path):
    path = tmp_path / "deep" / "er" / "lg.db"
    async with Database(f"sqlite:///{path}") as db, db.session() as session:
        assert (await session.scalar(text("PRAGMA journal_mode"))) == "wal"
        assert (await session.scalar(text("PRAGMA foreign_keys"))) == 1
        assert (await session.scalar(text("PRAGMA busy_timeout"))) == 5000
    assert path.exists()


async def test_in_memory_sqlite_is_one_database_migrated_in_place():
    async with Database("sqlite:///:memory:") as db:
        assert await db.upgrade() == Database.head_revision()
        assert await db.current_revision() == Database.head_revision()
        async with db.session() as session:
            await queries.create_org(session, name="acme")
        async with db.session() as session:
            assert [o.name for o in (await queries.list_orgs(session)).items] == ["acme"]


async def test_session_commits_or_rolls_back(db):
    async with db.session() as session:
        await queries.create_org(session, name="kept")
    with pytest.raises(RuntimeError, match="boom"):
        async with db.session() as session:
            await queries.create_org(session, name="dropped")
            raise RuntimeError("boom")
    async with db.session() as session:
        names = [org.name for org in (await queries.list_orgs(session)).items]
    assert names == ["kept"]


async def test_unconnected_database_says_so(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/lg.db")
    with pytest.raises(RuntimeError, match="not connected"):
        async with db.session():
            pass
    with pytest.raises(RuntimeError, match="not connected"):
        _ = db.engine
    await db.aclose()  # harmless
