"""The alerting schema: contacts and routes, rules, incidents, the outbox, mute windows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models import Base, Section

CONTACT_LEVELS = ("liaison", "village", "township", "county", "office", "operations")
INCIDENT_STATES = ("open", "acknowledged", "resolved")
# An incident raised on a QC-suspect reading: unconfirmed until the next good reading
# confirms it or shows it was not (None: raised on good data).
CONFIRMATIONS = ("unconfirmed", "confirmed", "not_confirmed")


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELLED = "cancelled"


OUTBOX_STATES = tuple(s.value for s in OutboxStatus)
CHANNELS = ("sms", "webhook")
RECEIPT_STATES = ("delivered", "failed")


class Contact(Base):
    """A person or office to notify: river chiefs (河长) by level, liaisons, operations."""

    __tablename__ = "contacts"
    __table_args__ = (CheckConstraint(f"level IN {CONTACT_LEVELS}", name="level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    endpoints: Mapped[list[WebhookEndpoint]] = relationship(
        back_populates="contact", cascade="all, delete-orphan"
    )
    assignments: Mapped[list[SectionContact]] = relationship(
        back_populates="contact", cascade="all, delete-orphan"
    )


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    # Standard Webhooks secret (whsec_…); kept in clear because signing needs it.
    secret: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")

    contact: Mapped[Contact] = relationship(back_populates="endpoints")


class SectionContact(Base):
    """A contact on a section's escalation path: tier 1 is told first."""

    __tablename__ = "section_contacts"
    __table_args__ = (CheckConstraint("tier BETWEEN 1 AND 9", name="tier"),)

    section_id: Mapped[int] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tier: Mapped[int] = mapped_column(SmallInteger, server_default="1")

    contact: Mapped[Contact] = relationship(back_populates="assignments")
    section: Mapped[Section] = relationship()


class EscalationTier(Base):
    """How long an unacknowledged incident waits before this tier is told."""

    __tablename__ = "escalation_tiers"
    __table_args__ = (
        CheckConstraint("tier BETWEEN 1 AND 9", name="tier"),
        CheckConstraint("delay_s >= 0", name="delay"),
    )

    section_id: Mapped[int] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), primary_key=True
    )
    tier: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    delay_s: Mapped[int] = mapped_column(Integer)


class AlertRule(Base):
    """One rule's configuration; the rules themselves are code (alerts.rules)."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        CheckConstraint(
            "persistence IN ('first', 'consecutive', 'rolling_mean')", name="persistence"
        ),
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # first: the first offending reading fires; consecutive: `consecutive` readings in a
    # row; rolling_mean: the mean over `window_s` offends.
    persistence: Mapped[str] = mapped_column(String(16), server_default="first")
    consecutive: Mapped[int] = mapped_column(SmallInteger, server_default="3")
    window_s: Mapped[int] = mapped_column(Integer, server_default="14400")
    # Clear for this long before an incident resolves by itself.
    hold_s: Mapped[int] = mapped_column(Integer, server_default="3600")
    # Remind while open and unacknowledged, this often.
    repeat_s: Mapped[int] = mapped_column(Integer, server_default="7200")
    # station_silent: no reading for this many reporting intervals.
    silent_factor: Mapped[float] = mapped_column(Double, server_default="3")
    # A QC-suspect reading that would raise opens an unconfirmed incident at once, told
    # to operations and, with unconfirmed_tier1, to the tier-1 chiefs.
    unconfirmed: Mapped[bool] = mapped_column(Boolean, server_default="true")
    unconfirmed_tier1: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Hysteresis: an open incident clears only when each item is this fraction better
    # than the limit, for `clear_readings` judged times in a row.
    clear_margin: Mapped[float] = mapped_column(Double, server_default="0.05")
    clear_readings: Mapped[int] = mapped_column(SmallInteger, server_default="1")


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(f"state IN {INCIDENT_STATES}", name="state"),
        CheckConstraint("severity BETWEEN 1 AND 3", name="severity"),
        CheckConstraint(f"confirmation IN {CONFIRMATIONS}", name="confirmation"),
        # One open incident per (rule, section, station): new readings update it.
        Index(
            "uq_incidents_open",
            "rule",
            sql_text("coalesce(section_id, 0)"),
            sql_text("coalesce(station_id, 0)"),
            unique=True,
            postgresql_where=sql_text("state <> 'resolved'"),
        ),
        Index("ix_incidents_state_section", "state", "section_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rule: Mapped[str] = mapped_column(ForeignKey("alert_rules.code"))
    section_id: Mapped[int | None] = mapped_column(ForeignKey("sections.id", ondelete="CASCADE"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    severity: Mapped[int] = mapped_column(SmallInteger)  # 1 info, 2 major, 3 critical
    state: Mapped[str] = mapped_column(String(16), server_default="open")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_note: Mapped[str | None] = mapped_column(Text)
    # Since when the condition has been clear (None while it still holds).
    clear_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Offending items and values, the section class and target: what messages quote.
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=sql_text("'{}'::jsonb"))
    notified_severity: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    notified_tier: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    next_escalation_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_reminder_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The upstream trace as it stood at opening (alerts.trace); None: not a traced rule.
    trace: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    confirmation: Mapped[str | None] = mapped_column(String(16))
    # Escalation counts from here once an unconfirmed incident is confirmed.
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncidentEvent(Base):
    """The timeline of an incident: opened, updated, notified, acknowledged, resolved…"""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=sql_text("'{}'::jsonb"))


class OutboxMessage(Base):
    """A message to deliver, written in the transaction that decided to send it."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(f"status IN {OUTBOX_STATES}", name="status"),
        CheckConstraint(f"channel IN {CHANNELS}", name="channel"),
        CheckConstraint(f"receipt_status IN {RECEIPT_STATES}", name="receipt_status"),
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            postgresql_where=sql_text("status = 'pending'"),
        ),
        # Per-number SMS rate limits count recent sends.
        Index(
            "ix_outbox_sms_recipient",
            "recipient",
            "delivered_at",
            postgresql_where=sql_text("channel = 'sms' AND status = 'delivered'"),
        ),
        Index(
            "ix_outbox_awaiting_receipt",
            "delivered_at",
            postgresql_where=sql_text(
                "channel = 'sms' AND status = 'delivered' AND receipt_status IS NULL"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Sent with every attempt; receivers drop repeats of a key they have seen.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(Text)  # phone number or endpoint URL
    event: Mapped[str] = mapped_column(String(32))  # alerts.channels.templates event
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=sql_text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # A dispatcher that claimed the message owns it until then; a crash lets it lapse.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(SmallInteger)
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An attempt's answer was lost (the provider may have accepted it) since then; the
    # next attempt looks the message up before sending (alerts.channels.provider).
    unconfirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The handset receipt of an accepted SMS, from the provider's status pull.
    receipt_status: Mapped[str | None] = mapped_column(String(16))
    receipt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    receipt_error: Mapped[str | None] = mapped_column(Text)


class MuteWindow(Base):
    """Planned maintenance: no notifications for a section or a station in [starts, ends)."""

    __tablename__ = "mute_windows"
    __table_args__ = (
        CheckConstraint("(section_id IS NULL) <> (station_id IS NULL)", name="one_target"),
        CheckConstraint("ends_at > starts_at", name="ordered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int | None] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), index=True
    )
    station_id: Mapped[int | None] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, server_default="")


class EvaluatorState(Base):
    """That the evaluator follows core.models.EvaluatorFeed, and the newest arrival it
    judged. Without it, the next run judges every section with readings in the last day."""

    __tablename__ = "evaluator_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StationVerdict(Base):
    """A station's verdicts under the reading rules at its latest evaluated time
    (alerts.verdicts), and the basis (rules, targets, waterbody) they were judged under."""

    __tablename__ = "station_verdicts"

    station_id: Mapped[int] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    basis: Mapped[str] = mapped_column(Text)
    latest: Mapped[int] = mapped_column(BigInteger)  # epoch seconds
    latest_class: Mapped[int] = mapped_column(SmallInteger)
    # {rule: {severity, water_class, time, details}}; a rule not offending is absent.
    verdicts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The rules under which the station is clear by their hysteresis (clear margin, clear
    # readings): an open incident resolves only when every station of its section is.
    clear: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
