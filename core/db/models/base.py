"""What every table shares: the declarative base, ids, UTC timestamps, money, JSON.

Only portable types: each column behaves the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Enum, Integer, MetaData, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ID_LENGTH",
    "Base",
    "BudgetFields",
    "BudgetPeriod",
    "LimitFields",
    "Money",
    "Timestamps",
    "UTCDateTime",
    "new_id",
    "string_enum",
    "utcnow",
]

#: Constraint and index names that are the same on every database, so later migrations
#: can name what they alter.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 36


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def new_id() -> str:
    """A random id (UUID text): portable, and safe to show in URLs."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC and read back in UTC on every database.

    SQLite keeps no offset, so values are converted to UTC before they are stored; naive
    datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"expected a timezone-aware datetime, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Money in dollars: exact NUMERIC on PostgreSQL; on SQLite stored as a double and read
#: back as a Decimal rounded to the scale (exact to far below a cent for any real total).
Money = Numeric(20, 10)


def string_enum(cls: type[enum.Enum], name: str) -> Enum:
    """An enum stored as its values in a short string column with a CHECK constraint."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class BudgetPeriod(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BudgetFields:
    """A spending cap (the budgets plugin enforces it); no period means it never resets."""

    max_budget: Mapped[Decimal | None] = mapped_column(Money)
    budget_period: Mapped[BudgetPeriod | None] = mapped_column(
        string_enum(BudgetPeriod, "budget_period")
    )


class LimitFields:
    """Which models, and how fast; None means inherited (a key from its team) or unlimited."""

    allowed_models: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    rpm_limit: Mapped[int | None] = mapped_column(Integer)
    tpm_limit: Mapped[int | None] = mapped_column(Integer)
    max_parallel: Mapped[int | None] = mapped_column(Integer)


def metadata_column() -> Mapped[dict[str, Any]]:
    # `metadata` is taken by the declarative base, so the attribute is `meta`.
    return mapped_column("metadata", JSON, default=dict)


def id_column() -> Mapped[str]:
    return mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
