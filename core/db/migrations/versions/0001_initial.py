"""Tenancy, virtual keys, audit log and spend ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

A migration is a snapshot: it spells out its types instead of importing the models, which
will change after it. Timestamps are timezone-aware (stored UTC), enums short strings with a
CHECK, ids UUID text, 64-bit serial ids for the append-only tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(36)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
MONEY = sa.Numeric(precision=20, scale=10)
ROLES = ("admin", "org_admin", "team_admin", "member", "viewer")
PERIODS = ("daily", "weekly", "monthly")


def _one_of(table: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}"))


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    ]


def _budget(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("max_budget", MONEY, nullable=True),
        sa.Column("budget_period", sa.String(16), nullable=True),
        _one_of(table, "budget_period", PERIODS),
    ]


def _limits() -> list[sa.Column[object]]:
    return [
        sa.Column("allowed_models", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("rpm_limit", sa.Integer(), nullable=True),
        sa.Column("tpm_limit", sa.Integer(), nullable=True),
        sa.Column("max_parallel", sa.Integer(), nullable=True),
    ]


def _fk(
    table: str, column: str, target: str, ondelete: str | None = None
) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{column}_{target}")
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=name, ondelete=ondelete)


def _index(table: str, name: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{name}"), table, list(columns))


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        *_timestamps(),
        *_budget("organizations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("name", name=op.f("uq_organizations_name")),
    )

    op.create_table(
        "teams",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        *_timestamps(),
        *_budget("teams"),
        *_limits(),
        _fk("teams", "org_id", "organizations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_teams_org_id_name")),
    )
    _index("teams", "org_id", "org_id")

    op.create_table(
        "users",
        sa.Column("id", ID, nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("org_id", ID, nullable=True),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        *_timestamps(),
        *_budget("users"),
        _one_of("users", "role", ROLES),
        _fk("users", "org_id", "organizations"),
        _fk("users", "team_id", "teams"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    _index("users", "org_id", "org_id")
    _index("users", "team_id", "team_id")

    op.create_table(
        "virtual_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("rotated_from", ID, nullable=True),
        sa.Column("grace_until", TIMESTAMP, nullable=True),
        *_timestamps(),
        *_budget("virtual_keys"),
        *_limits(),
        _fk("virtual_keys", "user_id", "users"),
        _fk("virtual_keys", "team_id", "teams"),
        _fk("virtual_keys", "rotated_from", "virtual_keys", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_virtual_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_virtual_keys_key_hash")),
    )
    _index("virtual_keys", "user_id", "user_id")
    _index("virtual_keys", "team_id", "team_id")

    op.create_table(
        "audit_log",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=True),
        sa.Column("before", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("after", sa.JSON(none_as_null=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    _index("audit_log", "at", "at")
    _index("audit_log", "actor", "actor")
    _index("audit_log", "target", "target_type", "target_id")

    op.create_table(
        "spend_ledger",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("key_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("org_id", ID, nullable=True),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("deployment", sa.String(255), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_ledger")),
    )
    _index("spend_ledger", "request_id", "request_id")
    _index("spend_ledger", "day", "day")
    for dimension in ("key_id", "user_id", "team_id", "org_id", "alias"):
        _index("spend_ledger", f"{dimension.removesuffix('_id')}_day", dimension, "day")


def downgrade() -> None:
    # Dropping a table drops its indexes; children before parents.
    for table in ("spend_ledger", "audit_log", "virtual_keys", "users", "teams", "organizations"):
        op.drop_table(table)
