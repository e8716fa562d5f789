"""early warning: unconfirmed incidents, re-measure commands, clear margin and hold per rule

Revision ID: 0012_early_warning
Revises: 0011_ingest_storage
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_early_warning"
down_revision: str | None = "0011_ingest_storage"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "alert_rules", sa.Column("unconfirmed", sa.Boolean(), server_default="true", nullable=False)
    )
    op.add_column(
        "alert_rules",
        sa.Column("unconfirmed_tier1", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column(
        "alert_rules", sa.Column("clear_margin", sa.Double(), server_default="0.05", nullable=False)
    )
    op.add_column(
        "alert_rules",
        sa.Column("clear_readings", sa.SmallInteger(), server_default="1", nullable=False),
    )
    op.add_column("incidents", sa.Column("confirmation", sa.String(16), nullable=True))
    op.add_column("incidents", sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_incidents_confirmation"),
        "incidents",
        "confirmation IN ('unconfirmed', 'confirmed', 'not_confirmed')",
    )
    op.add_column("hj212_commands", sa.Column("incident_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_hj212_commands_incident_id_incidents"),
        "hj212_commands",
        "incidents",
        ["incident_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f("ix_hj212_commands_incident_id"), "hj212_commands", ["incident_id"])
    op.create_index(
        "ix_readings_suspect",
        "readings",
        ["station_id", "time"],
        postgresql_where=sa.text("qc_flag = 3 AND NOT backfill"),
    )


def downgrade() -> None:
    op.drop_index("ix_readings_suspect", table_name="readings")
    op.drop_index(op.f("ix_hj212_commands_incident_id"), table_name="hj212_commands")
    op.drop_constraint(
        op.f("fk_hj212_commands_incident_id_incidents"), "hj212_commands", type_="foreignkey"
    )
    op.drop_column("hj212_commands", "incident_id")
    op.drop_constraint(op.f("ck_incidents_confirmation"), "incidents", type_="check")
    op.drop_column("incidents", "confirmed_at")
    op.drop_column("incidents", "confirmation")
    for column in ("clear_readings", "clear_margin", "unconfirmed_tier1", "unconfirmed"):
        op.drop_column("alert_rules", column)
