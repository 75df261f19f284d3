"""The audit log: one row per admin change, appended and never rewritten."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow

__all__ = ["SERIAL", "AuditEntry"]

#: An auto-incrementing 64-bit id; SQLite only auto-increments an INTEGER primary key.
SERIAL = BigInteger().with_variant(Integer, "sqlite")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: Who did it: "user:<id>", "key:<id>", "master-key", ...
    actor: Mapped[str] = mapped_column(String(255), index=True)
    #: What was done: "key.create", "team.update", ...
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    #: The organization the target belongs to, if any: what an org_admin may list.
    org_id: Mapped[str | None] = mapped_column(String(64), index=True)
    #: The target as it was and as it became, secrets masked (None: created / deleted).
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
