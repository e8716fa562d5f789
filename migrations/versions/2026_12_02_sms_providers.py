"""outbox: lost-answer ambiguity and handset receipts of SMS; per-number rate index

Revision ID: 0009_sms_providers
Revises: 0004_outbox_cancelled
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_sms_providers"
down_revision: str | None = "0004_outbox_cancelled"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("unconfirmed_at", sa.DateTime(timezone=True)))
    op.add_column("outbox", sa.Column("receipt_status", sa.String(16)))
    op.add_column("outbox", sa.Column("receipt_at", sa.DateTime(timezone=True)))
    op.add_column("outbox", sa.Column("receipt_error", sa.Text()))
    op.create_check_constraint(
        op.f("ck_outbox_receipt_status"), "outbox", "receipt_status IN ('delivered', 'failed')"
    )
    op.create_index(
        "ix_outbox_sms_recipient",
        "outbox",
        ["recipient", "delivered_at"],
        postgresql_where=sa.text("channel = 'sms' AND status = 'delivered'"),
    )
    op.create_index(
        "ix_outbox_awaiting_receipt",
        "outbox",
        ["delivered_at"],
        postgresql_where=sa.text(
            "channel = 'sms' AND status = 'delivered' AND receipt_status IS NULL"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_awaiting_receipt", table_name="outbox")
    op.drop_index("ix_outbox_sms_recipient", table_name="outbox")
    op.drop_constraint(op.f("ck_outbox_receipt_status"), "outbox", type_="check")
    op.drop_column("outbox", "receipt_error")
    op.drop_column("outbox", "receipt_at")
    op.drop_column("outbox", "receipt_status")
    op.drop_column("outbox", "unconfirmed_at")
