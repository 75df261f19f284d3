"""Who uses the gateway: organizations, their teams, and users with a role."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import (
    ID_LENGTH,
    Base,
    BudgetFields,
    LimitFields,
    Timestamps,
    id_column,
    metadata_column,
    string_enum,
)

__all__ = ["Organization", "Role", "Team", "User"]


class Role(enum.StrEnum):
    """What a user may do, widest first (the tenancy issue's RBAC matrix)."""

    ADMIN = "admin"
    ORG_ADMIN = "org_admin"
    TEAM_ADMIN = "team_admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Organization(Timestamps, BudgetFields, Base):
    __tablename__ = "organizations"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(255), unique=True)
    meta: Mapped[dict[str, Any]] = metadata_column()


class Team(Timestamps, BudgetFields, LimitFields, Base):
    """A team's limits and model list are what its keys inherit."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = id_column()
    # Optional: a single-tenant install needs no organization.
    org_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("organizations.id"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    meta: Mapped[dict[str, Any]] = metadata_column()


class User(Timestamps, BudgetFields, Base):
    __tablename__ = "users"

    id: Mapped[str] = id_column()
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    org_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("organizations.id"), index=True
    )
    team_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("teams.id"), index=True
    )
    role: Mapped[Role] = mapped_column(string_enum(Role, "role"), default=Role.MEMBER)
    meta: Mapped[dict[str, Any]] = metadata_column()
