"""outbox: a cancelled state for reminders overtaken by events; mute window indexes

Revision ID: 0004_outbox_cancelled
Revises: 0003_alerts
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_outbox_cancelled"
down_revision: str | None = "0003_alerts"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_outbox_status"), "outbox", type_="check")
    op.create_check_constraint(
        op.f("ck_outbox_status"),
        "outbox",
        "status IN ('pending', 'delivered', 'dead', 'cancelled')",
    )
    op.create_index(op.f("ix_mute_windows_section_id"), "mute_windows", ["section_id"])
    op.create_index(op.f("ix_mute_windows_station_id"), "mute_windows", ["station_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_mute_windows_station_id"), table_name="mute_windows")
    op.drop_index(op.f("ix_mute_windows_section_id"), table_name="mute_windows")
    op.execute("UPDATE outbox SET status = 'dead' WHERE status = 'cancelled'")
    op.drop_constraint(op.f("ck_outbox_status"), "outbox", type_="check")
    op.create_check_constraint(
        op.f("ck_outbox_status"), "outbox", "status IN ('pending', 'delivered', 'dead')"
    )
