"""upstream: the bureau's river topology for tracing, and each incident's trace

- stations.section_id becomes optional: a park outfall or a township point may report
  without belonging to any section;
- upstream_links: per section, the stations upstream of it, in order along the river
  (1 the farthest upstream), each with an optional typical travel time to the section;
- incidents.trace: the upstream trace computed when the incident opened.

Downgrading needs every station back in a section (NOT NULL fails otherwise).

Revision ID: 0010_upstream
Revises: 0009_stored_report_zone
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_upstream"
down_revision: str | None = "0009_stored_report_zone"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("stations", "section_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "upstream_links",
        sa.Column("section_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("travel_time_min", sa.Integer(), nullable=True),
        sa.CheckConstraint("position > 0", name=op.f("ck_upstream_links_position")),
        sa.CheckConstraint(
            "travel_time_min IS NULL OR travel_time_min >= 0",
            name=op.f("ck_upstream_links_travel_time"),
        ),
        sa.ForeignKeyConstraint(
            ["section_id"],
            ["sections.id"],
            name=op.f("fk_upstream_links_section_id_sections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_upstream_links_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("section_id", "station_id", name=op.f("pk_upstream_links")),
        sa.UniqueConstraint("section_id", "position", name=op.f("uq_upstream_links_section_id")),
    )
    op.add_column(
        "incidents", sa.Column("trace", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )


def downgrade() -> None:
    # Before 0010 every station had a section: stations of none (outfalls) have nowhere
    # to go, and deleting them (and their readings) is the operator's decision, not ours.
    outfalls = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM stations WHERE section_id IS NULL")
    )
    if outfalls:
        raise RuntimeError(
            f"{outfalls} stations have no section: give them one or delete them, then downgrade"
        )
    op.drop_column("incidents", "trace")
    op.drop_table("upstream_links")
    op.alter_column("stations", "section_id", existing_type=sa.Integer(), nullable=False)
