"""The audit log records the organization of each change's target.

Revision ID: 0002_admin
Revises: 0001
Create Date: 2026-11-28

An org_admin lists the audit entries of its own organization; the org is copied into the
entry when it is written (like the spend ledger's ids), so it outlives deleted rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_admin"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("org_id", sa.String(64), nullable=True))
    op.create_index(op.f("ix_audit_log_org_id"), "audit_log", ["org_id"])


def downgrade() -> None:
    # SQLite can't drop a column in place: batch mode copies the table.
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index(op.f("ix_audit_log_org_id"))
        batch.drop_column("org_id")
