"""stored_reports: a zone's kept quarterly report besides the city's

Revision ID: 0009_stored_report_zone
Revises: 0008_rollups
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_stored_report_zone"
down_revision: str | None = "0008_rollups"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

UNIQUE = "uq_stored_reports_kind"


def upgrade() -> None:
    op.add_column("stored_reports", sa.Column("zone_id", sa.Integer()))
    op.create_foreign_key(
        op.f("fk_stored_reports_zone_id_zones"),
        "stored_reports",
        "zones",
        ["zone_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_constraint(UNIQUE, "stored_reports", type_="unique")
    # One city-wide report (no zone) per kind and period, and one per zone.
    op.create_unique_constraint(
        UNIQUE, "stored_reports", ["kind", "period", "zone_id"], postgresql_nulls_not_distinct=True
    )


def downgrade() -> None:
    op.execute("DELETE FROM stored_reports WHERE zone_id IS NOT NULL")
    op.drop_constraint(UNIQUE, "stored_reports", type_="unique")
    op.create_unique_constraint(UNIQUE, "stored_reports", ["kind", "period"])
    op.drop_constraint(
        op.f("fk_stored_reports_zone_id_zones"), "stored_reports", type_="foreignkey"
    )
    op.drop_column("stored_reports", "zone_id")
