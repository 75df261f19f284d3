"""Alembic's environment for litegate's migrations.

`litegate.db.migrate.upgrade` hands in a connection whose transaction already holds the
migration lock. Run by the ``alembic`` command instead (a config with ``sqlalchemy.url``),
it opens one the same way, with Alembic's async pattern.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from litegate.db.migrate import run_locked
from litegate.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by rebuilding them; batch mode does that for later migrations.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    run_on(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url, or run `litegate db upgrade --config FILE`")
    asyncio.run(run_locked(url, run_on))
