"""initial schema: zones, sections, targets, stations, parameters, readings

Readings become a TimescaleDB hypertable when the server has the extension
preloaded; otherwise a plain table with the same keys and indexes.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def _use_timescaledb() -> bool:
    mode = str(context.config.attributes.get("timescaledb", "auto"))
    if mode == "off":
        return False
    available = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
                " AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
            )
        )
        .scalar_one()
    )
    if mode == "on" and not available:
        raise RuntimeError(
            "RIVERWATCH_TIMESCALEDB=on but the server has no preloaded timescaledb extension"
        )
    return bool(available)


def upgrade() -> None:
    op.create_table(
        "zones",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("governments", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.UniqueConstraint("name", name=op.f("uq_zones_name")),
    )
    op.create_table(
        "sections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("control_level", sa.String(16), nullable=False),
        sa.Column("water_system", sa.Text(), nullable=False),
        sa.Column("areas", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("key_control_range", sa.Text(), nullable=False),
        sa.Column("waterbody", sa.String(8), server_default="river", nullable=False),
        sa.Column(
            "zone_id",
            sa.Integer(),
            sa.ForeignKey("zones.id", name=op.f("fk_sections_zone_id_zones"), ondelete="SET NULL"),
        ),
        sa.Column("class_2020", sa.SmallInteger()),
        sa.Column(
            "main_factors_2020", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.CheckConstraint(
            "control_level IN ('national', 'provincial', 'municipal')",
            name=op.f("ck_sections_control_level"),
        ),
        sa.CheckConstraint("waterbody IN ('river', 'lake')", name=op.f("ck_sections_waterbody")),
        sa.CheckConstraint("class_2020 BETWEEN 1 AND 6", name=op.f("ck_sections_class_2020")),
        sa.UniqueConstraint("code", name=op.f("uq_sections_code")),
        sa.UniqueConstraint("name", name=op.f("uq_sections_name")),
    )
    op.create_table(
        "section_targets",
        sa.Column(
            "section_id",
            sa.Integer(),
            sa.ForeignKey(
                "sections.id",
                name=op.f("fk_section_targets_section_id_sections"),
                ondelete="CASCADE",
            ),
            primary_key=True,
        ),
        sa.Column("year", sa.SmallInteger(), primary_key=True),
        sa.Column("binding_class", sa.SmallInteger(), nullable=False),
        sa.Column("stretch_class", sa.SmallInteger()),
        sa.CheckConstraint(
            "binding_class BETWEEN 1 AND 5", name=op.f("ck_section_targets_binding_class")
        ),
        sa.CheckConstraint(
            "stretch_class IS NULL OR stretch_class < binding_class",
            name=op.f("ck_section_targets_stretch_better"),
        ),
    )
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("mn", sa.String(32)),
        sa.Column(
            "section_id",
            sa.Integer(),
            sa.ForeignKey(
                "sections.id", name=op.f("fk_stations_section_id_sections"), ondelete="RESTRICT"
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("reporting_interval_s", sa.Integer(), server_default="3600", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("simulated", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("api_key_hash", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("reporting_interval_s > 0", name=op.f("ck_stations_interval_positive")),
        sa.UniqueConstraint("code", name=op.f("uq_stations_code")),
        sa.UniqueConstraint("mn", name=op.f("uq_stations_mn")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_stations_api_key_hash")),
    )
    op.create_index(op.f("ix_stations_section_id"), "stations", ["section_id"])
    op.create_table(
        "parameters",
        sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name_zh", sa.String(32), nullable=False),
        sa.Column("name_en", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("hj212_2017", sa.String(16), nullable=False),
        sa.Column("hj212_2005", sa.String(16)),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("precision", sa.SmallInteger()),
        sa.Column("plausible_min", sa.Double(), nullable=False),
        sa.Column("plausible_max", sa.Double(), nullable=False),
        sa.Column("evaluated", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "direction IN ('le', 'ge', 'range', 'none')", name=op.f("ck_parameters_direction")
        ),
        sa.UniqueConstraint("code", name=op.f("uq_parameters_code")),
        sa.UniqueConstraint("hj212_2017", name=op.f("uq_parameters_hj212_2017")),
    )
    op.create_table(
        "readings",
        sa.Column(
            "station_id",
            sa.Integer(),
            sa.ForeignKey(
                "stations.id", name=op.f("fk_readings_station_id_stations"), ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column(
            "parameter_id",
            sa.SmallInteger(),
            sa.ForeignKey("parameters.id", name=op.f("fk_readings_parameter_id_parameters")),
            nullable=False,
        ),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("data_flag", sa.String(1), server_default="N", nullable=False),
        sa.Column("below_detection", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("qc_flag", sa.SmallInteger(), server_default="2", nullable=False),
        sa.Column("water_class", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        # Time is part of the key: TimescaleDB requires it in every unique index.
        sa.PrimaryKeyConstraint("station_id", "parameter_id", "time", name=op.f("pk_readings")),
        sa.CheckConstraint("water_class BETWEEN 0 AND 6", name=op.f("ck_readings_water_class")),
    )
    op.create_index(op.f("ix_readings_time"), "readings", ["time"])
    if _use_timescaledb():
        op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        # The time index above is the one a hypertable wants; don't make another.
        op.execute(
            "SELECT create_hypertable('readings', 'time',"
            " chunk_time_interval => INTERVAL '7 days', create_default_indexes => false)"
        )


def downgrade() -> None:
    op.drop_table("readings")
    op.drop_table("parameters")
    op.drop_index(op.f("ix_stations_section_id"), table_name="stations")
    op.drop_table("stations")
    op.drop_table("section_targets")
    op.drop_table("sections")
    op.drop_table("zones")
