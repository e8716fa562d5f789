"""alerts: contacts and routes, rules, incidents and their timeline, outbox, mute windows

Revision ID: 0003_alerts
Revises: 0002_ingest
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_alerts"
down_revision: str | None = "0002_ingest"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

JSONB_EMPTY = sa.text("'{}'::jsonb")


def _fk(column: str, target: str, table: str, ondelete: str | None = None) -> sa.Column[int]:
    return sa.Column(
        column,
        sa.Integer() if target != "incidents" else sa.BigInteger(),
        sa.ForeignKey(
            f"{target}.id", name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
        ),
    )


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(20)),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "level IN ('liaison', 'village', 'township', 'county', 'office', 'operations')",
            name=op.f("ck_contacts_level"),
        ),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("contact_id", "contacts", "webhook_endpoints", "CASCADE"),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
    )
    op.alter_column("webhook_endpoints", "contact_id", nullable=False)
    op.create_index(op.f("ix_webhook_endpoints_contact_id"), "webhook_endpoints", ["contact_id"])
    op.create_table(
        "section_contacts",
        _fk("section_id", "sections", "section_contacts", "CASCADE"),
        _fk("contact_id", "contacts", "section_contacts", "CASCADE"),
        sa.Column("tier", sa.SmallInteger(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("section_id", "contact_id", name=op.f("pk_section_contacts")),
        sa.CheckConstraint("tier BETWEEN 1 AND 9", name=op.f("ck_section_contacts_tier")),
    )
    op.create_table(
        "escalation_tiers",
        _fk("section_id", "sections", "escalation_tiers", "CASCADE"),
        sa.Column("tier", sa.SmallInteger(), nullable=False),
        sa.Column("delay_s", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("section_id", "tier", name=op.f("pk_escalation_tiers")),
        sa.CheckConstraint("tier BETWEEN 1 AND 9", name=op.f("ck_escalation_tiers_tier")),
        sa.CheckConstraint("delay_s >= 0", name=op.f("ck_escalation_tiers_delay")),
    )
    rules = op.create_table(
        "alert_rules",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("persistence", sa.String(16), server_default="first", nullable=False),
        sa.Column("consecutive", sa.SmallInteger(), server_default="3", nullable=False),
        sa.Column("window_s", sa.Integer(), server_default="14400", nullable=False),
        sa.Column("hold_s", sa.Integer(), server_default="3600", nullable=False),
        sa.Column("repeat_s", sa.Integer(), server_default="7200", nullable=False),
        sa.Column("silent_factor", sa.Double(), server_default="3", nullable=False),
        sa.CheckConstraint(
            "persistence IN ('first', 'consecutive', 'rolling_mean')",
            name=op.f("ck_alert_rules_persistence"),
        ),
    )
    op.bulk_insert(rules, [{"code": c} for c in ("class_v", "target_miss", "station_silent")])
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "rule",
            sa.String(32),
            sa.ForeignKey("alert_rules.code", name=op.f("fk_incidents_rule_alert_rules")),
            nullable=False,
        ),
        _fk("section_id", "sections", "incidents", "CASCADE"),
        _fk("station_id", "stations", "incidents", "CASCADE"),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("state", sa.String(16), server_default="open", nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.Text()),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolve_note", sa.Text()),
        sa.Column("clear_since", sa.DateTime(timezone=True)),
        sa.Column("details", postgresql.JSONB(), server_default=JSONB_EMPTY, nullable=False),
        sa.Column("notified_severity", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("notified_tier", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True)),
        sa.Column("next_reminder_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "state IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_incidents_state")
        ),
        sa.CheckConstraint("severity BETWEEN 1 AND 3", name=op.f("ck_incidents_severity")),
    )
    op.create_index(
        "uq_incidents_open",
        "incidents",
        ["rule", sa.text("coalesce(section_id, 0)"), sa.text("coalesce(station_id, 0)")],
        unique=True,
        postgresql_where=sa.text("state <> 'resolved'"),
    )
    op.create_index("ix_incidents_state_section", "incidents", ["state", "section_id"])
    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        _fk("incident_id", "incidents", "incident_events", "CASCADE"),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("details", postgresql.JSONB(), server_default=JSONB_EMPTY, nullable=False),
    )
    op.alter_column("incident_events", "incident_id", nullable=False)
    op.create_index(op.f("ix_incident_events_incident_id"), "incident_events", ["incident_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        _fk("incident_id", "incidents", "outbox", "SET NULL"),
        _fk("contact_id", "contacts", "outbox", "SET NULL"),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(), server_default=JSONB_EMPTY, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column("http_status", sa.SmallInteger()),
        sa.Column("provider_message_id", sa.Text()),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')", name=op.f("ck_outbox_status")
        ),
        sa.CheckConstraint("channel IN ('sms', 'webhook')", name=op.f("ck_outbox_channel")),
    )
    op.create_index(op.f("ix_outbox_incident_id"), "outbox", ["incident_id"])
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "mute_windows",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("section_id", "sections", "mute_windows", "CASCADE"),
        _fk("station_id", "stations", "mute_windows", "CASCADE"),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "(section_id IS NULL) <> (station_id IS NULL)", name=op.f("ck_mute_windows_one_target")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_mute_windows_ordered")),
    )
    op.create_table(
        "evaluator_state",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("received_until", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "evaluator_state",
        "mute_windows",
        "outbox",
        "incident_events",
        "incidents",
        "alert_rules",
        "escalation_tiers",
        "section_contacts",
        "webhook_endpoints",
        "contacts",
    ):
        op.drop_table(table)
