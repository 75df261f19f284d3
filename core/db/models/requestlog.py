"""The request log: one row per call (no bodies unless asked for), for the admin API and UI."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .audit import SERIAL
from .base import Base, Money, UTCDateTime, utcnow

__all__ = ["RequestLogRow"]


class RequestLogRow(Base):
    """Ids are copied, not foreign keys: the log outlives deleted keys and teams."""

    __tablename__ = "request_log"
    __table_args__ = (
        Index("ix_request_log_model_at", "model", "at"),
        Index("ix_request_log_key_id_at", "key_id", "at"),
        Index("ix_request_log_status_at", "status", "at"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    #: When the call started.
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(String(32))
    #: The model alias the client asked for.
    model: Mapped[str] = mapped_column(String(255))
    deployment: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(64))
    #: The HTTP status the client got (499: the client went away).
    status: Mapped[int]
    error_code: Mapped[str | None] = mapped_column(String(64))
    #: The caller: a key id (or static key name), its user and team.
    key_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    team_id: Mapped[str | None] = mapped_column(String(255))
    stream: Mapped[bool] = mapped_column(default=False)
    cache_hit: Mapped[bool] = mapped_column(default=False)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal | None] = mapped_column(Money)
    attempts: Mapped[int] = mapped_column(default=1)
    #: The request's messages, redacted; only with the plugin's `include_bodies`.
    body: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
