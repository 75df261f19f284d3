"""Relational storage for `[state] db`: SQLAlchemy 2 (async) over SQLite or PostgreSQL.

``Database`` owns the engine, sessions and Alembic migrations; `litegate.db.models` holds
the tables; `litegate.db.queries` the queries, as functions over a session::

    db = Database(config.state.db)
    await db.upgrade()
    await db.connect()
    async with db.session() as session:
        key, secret = await queries.create_key(session, name="ci", team_id=team.id)
    await db.aclose()
"""

from . import queries
from .database import Database
from .engine import async_url, display_url
from .models import (
    AuditEntry,
    Base,
    BudgetPeriod,
    Organization,
    Role,
    SpendRow,
    Team,
    User,
    VirtualKey,
)

__all__ = [
    "AuditEntry",
    "Base",
    "BudgetPeriod",
    "Database",
    "Organization",
    "Role",
    "SpendRow",
    "Team",
    "User",
    "VirtualKey",
    "async_url",
    "display_url",
    "queries",
]
