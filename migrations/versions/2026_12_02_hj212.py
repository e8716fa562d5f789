"""hj212: readings' kind (instant or period mean) in their key, logger passwords,
protocol state per station, item refusals, split-packet parts, commands to loggers

Revision ID: 0006_hj212
Revises: 0005_sms_providers
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_hj212"
down_revision: str | None = "0005_sms_providers"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # 0 instant, 1 minute, 2 hour, 3 day mean (sensors.readings.Kind). In the key, after
    # time, so a period mean at an hour's start never collides with an instant reading and
    # every index path over (station, parameter, time) stays as it was.
    op.add_column(
        "readings", sa.Column("kind", sa.SmallInteger(), server_default="0", nullable=False)
    )
    op.create_check_constraint(op.f("ck_readings_kind"), "readings", "kind BETWEEN 0 AND 3")
    op.drop_constraint(op.f("pk_readings"), "readings", type_="primary")
    op.create_primary_key(
        op.f("pk_readings"), "readings", ["station_id", "parameter_id", "time", "kind"]
    )
    op.add_column(
        "reading_revisions",
        sa.Column("kind", sa.SmallInteger(), server_default="0", nullable=False),
    )
    op.add_column("stations", sa.Column("hj212_password_hash", sa.String(128), nullable=True))

    op.create_table(
        "hj212_links",
        sa.Column("station_id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.String(8), nullable=True),
        sa.Column("connected", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("peer", sa.String(64), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_packet_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("packets", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("replies", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "refusals",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_hj212_links_station_id_stations"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "hj212_refusals",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("qn", sa.String(20), nullable=True),
        sa.Column("mn", sa.String(32), nullable=False),
        sa.Column("cn", sa.String(4), nullable=True),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_hj212_refusals_station_id_stations"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_hj212_refusals_station_id"), "hj212_refusals", ["station_id", "at"])
    op.create_table(
        "hj212_parts",
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("cn", sa.String(4), nullable=False),
        sa.Column("data_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pnum", sa.SmallInteger(), nullable=False),
        sa.Column("pno", sa.SmallInteger(), nullable=False),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint(
            "station_id", "cn", "data_time", "pnum", "pno", name=op.f("pk_hj212_parts")
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_hj212_parts_station_id_stations"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "hj212_commands",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("qn", sa.String(20), nullable=False),
        sa.Column("cn", sa.String(4), nullable=False),
        sa.Column("cp", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.String(16), server_default="queued", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("qn_rtn", sa.SmallInteger(), nullable=True),
        sa.Column("exe_rtn", sa.SmallInteger(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'sent', 'accepted', 'refused', 'done', 'failed', 'expired')",
            name=op.f("ck_hj212_commands_state"),
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_hj212_commands_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("station_id", "qn", name=op.f("uq_hj212_commands_station_id")),
    )


def downgrade() -> None:
    op.drop_table("hj212_commands")
    op.drop_table("hj212_parts")
    op.drop_index(op.f("ix_hj212_refusals_station_id"), table_name="hj212_refusals")
    op.drop_table("hj212_refusals")
    op.drop_table("hj212_links")
    op.drop_column("stations", "hj212_password_hash")
    op.drop_column("reading_revisions", "kind")
    # Period means have no place in the old key: they go with the column.
    op.execute("DELETE FROM readings WHERE kind <> 0")
    op.drop_constraint(op.f("pk_readings"), "readings", type_="primary")
    op.create_primary_key(op.f("pk_readings"), "readings", ["station_id", "parameter_id", "time"])
    op.drop_constraint(op.f("ck_readings_kind"), "readings", type_="check")
    op.drop_column("readings", "kind")
