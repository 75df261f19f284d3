"""Virtual keys: only a hash of the secret is stored, plus a short prefix to recognise it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import (
    ID_LENGTH,
    Base,
    BudgetFields,
    LimitFields,
    Timestamps,
    UTCDateTime,
    id_column,
    metadata_column,
)

__all__ = ["VirtualKey"]


class VirtualKey(Timestamps, BudgetFields, LimitFields, Base):
    __tablename__ = "virtual_keys"

    id: Mapped[str] = id_column()
    #: SHA-256 of the secret, hex (see `litegate.db.queries.hash_secret`).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The secret's first characters, shown in lists so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id"), index=True
    )
    team_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("teams.id"), index=True
    )
    meta: Mapped[dict[str, Any]] = metadata_column()
    enabled: Mapped[bool] = mapped_column(default=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: On a key made by rotation: the key it replaces.
    rotated_from: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("virtual_keys.id", ondelete="SET NULL")
    )
    #: On a rotated-out key: it keeps working until then.
    grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def usable_at(self, now: datetime) -> bool:
        """Whether the key may authenticate at `now` (limits and models aside)."""
        return (
            self.enabled
            and self.revoked_at is None
            and (self.expires_at is None or now < self.expires_at)
            and (self.grace_until is None or now < self.grace_until)
        )
