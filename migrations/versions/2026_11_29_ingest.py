"""ingest: backfill mark, revision audit, per-station QC overrides

Revision ID: 0002_ingest
Revises: 0001_initial
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_ingest"
down_revision: str | None = "0001_initial"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "readings",
        sa.Column("backfill", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column(
        "stations",
        sa.Column(
            "qc_overrides",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.create_table(
        "reading_revisions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("parameter_id", sa.SmallInteger(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("data_flag", sa.String(1), nullable=False),
        sa.Column("below_detection", sa.Boolean(), nullable=False),
        sa.Column("qc_flag", sa.SmallInteger(), nullable=False),
        sa.Column("water_class", sa.SmallInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "replaced_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_reading_revisions_station_id_stations"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        op.f("ix_reading_revisions_key"),
        "reading_revisions",
        ["station_id", "parameter_id", "time"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reading_revisions_key"), table_name="reading_revisions")
    op.drop_table("reading_revisions")
    op.drop_column("stations", "qc_overrides")
    op.drop_column("readings", "backfill")
