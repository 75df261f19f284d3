"""Alembic migrations: empty to head, idempotent, safe from several processes at once, and
in step with the models."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect

from litegate.db import Base, Database
from litegate.db.migrate import alembic_config, run_locked

TABLES = {"organizations", "teams", "users", "virtual_keys", "audit_log", "spend_ledger"}


def _tables(connection):
    return set(inspect(connection).get_table_names())


async def test_upgrade_from_empty_to_head_is_idempotent(db_url):
    db = Database(db_url)
    head = Database.head_revision()
    assert await db.current_revision() is None
    assert await db.upgrade() == head
    assert await db.upgrade() == head
    assert await db.current_revision() == head
    tables = await run_locked(db_url, _tables)
    assert tables >= TABLES | {"alembic_version"}


async def test_downgrade_to_base_and_back(db_url):
    db = Database(db_url)
    await db.upgrade()

    def downgrade(connection):
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        return _tables(connection)

    assert not (await run_locked(db_url, downgrade)) & TABLES
    assert await db.upgrade() == Database.head_revision()


def _differences(metadata):
    def compare(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    return compare


async def test_models_and_migrations_do_not_drift(db_url):
    await Database(db_url).upgrade()
    assert await run_locked(db_url, _differences(Base.metadata)) == []


async def test_drift_would_be_seen(db_url):
    # The comparison above is only worth something if it notices a difference.
    await Database(db_url).upgrade()
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["teams"].append_column(Column("colour", Integer))
    differences = await run_locked(db_url, _differences(changed))
    assert [(kind, column.name) for kind, _s, _t, column in differences] == [
        ("add_column", "colour")
    ]


def test_concurrent_upgrades_from_two_processes(db_url, tmp_path):
    config = tmp_path / "pipeline.toml"
    config.write_text(f'[state]\ndb = "{db_url}"\n')
    command_line = [sys.executable, "-m", "litegate.cli", "db", "upgrade", "--config", str(config)]
    workers = [
        subprocess.Popen(command_line, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(*worker.communicate(timeout=60), worker.returncode) for worker in workers]
    for out, err, code in results:
        assert code == 0, err
        assert f"at revision {Database.head_revision()} (head)" in out

    async def check() -> None:
        db = Database(db_url)
        assert await db.current_revision() == Database.head_revision()
        versions = await run_locked(
            db_url, lambda c: c.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        )
        assert len(versions) == 1

    asyncio.run(check())


async def test_unknown_revision_is_an_error(db_url):
    with pytest.raises(Exception, match="nope"):
        await Database(db_url).upgrade("nope")
