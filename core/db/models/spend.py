"""The spend ledger: one row per call, for budgets and reports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .audit import SERIAL
from .base import ID_LENGTH, Base, Money, UTCDateTime, utcnow

__all__ = ["SpendRow"]


class SpendRow(Base):
    """Ids are copied, not foreign keys: the ledger outlives deleted keys and teams."""

    __tablename__ = "spend_ledger"
    __table_args__ = (
        Index("ix_spend_ledger_key_day", "key_id", "day"),
        Index("ix_spend_ledger_user_day", "user_id", "day"),
        Index("ix_spend_ledger_team_day", "team_id", "day"),
        Index("ix_spend_ledger_org_day", "org_id", "day"),
        Index("ix_spend_ledger_alias_day", "alias", "day"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    #: The call's request id: unique, so a batch written twice (a retry after a commit
    #: whose answer was lost) adds no rows.
    request_id: Mapped[str] = mapped_column(String(64), index=True, unique=True)
    key_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    user_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    team_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    org_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    #: The model alias the client asked for.
    alias: Mapped[str] = mapped_column(String(255))
    deployment: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    cached_tokens: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    #: "success", or the error code the client got.
    status: Mapped[str] = mapped_column(String(32))
    latency_ms: Mapped[int | None]
    cache_hit: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The UTC date of `created_at`, kept apart so daily reports group and index on it
    #: the same way on every database.
    day: Mapped[date] = mapped_column(Date, index=True)
