"""The spend ledger's request id becomes unique, so batch inserts can be retried safely.

Revision ID: 0003_spend
Revises: 0002_admin
Create Date: 2026-11-28

Rows already sharing a request id keep the first one.
"""

from __future__ import annotations

from alembic import op

revision: str = "0003_spend"
down_revision: str | None = "0002_admin"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_spend_ledger_request_id"


def upgrade() -> None:
    op.execute(
        "DELETE FROM spend_ledger WHERE id NOT IN "
        "(SELECT keep FROM (SELECT MIN(id) AS keep FROM spend_ledger GROUP BY request_id) AS k)"
    )
    op.drop_index(op.f(INDEX), table_name="spend_ledger")
    op.create_index(op.f(INDEX), "spend_ledger", ["request_id"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f(INDEX), table_name="spend_ledger")
    op.create_index(op.f(INDEX), "spend_ledger", ["request_id"], unique=False)
