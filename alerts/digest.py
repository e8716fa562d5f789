"""The daily digest for the 治水办 offices: what is still open, where, and how each of
those sections did yesterday.

Yesterday's figures are the reports' period evaluation (app.reports), handed in by the
caller as `figures`: alerts sits below app, and a section's period evaluation is
computed one way whatever asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.channels.base import ChannelKind
from alerts.channels.templates import render
from alerts.early_warning import UNCONFIRMED
from alerts.evaluator import try_lock
from alerts.incidents import Severity, State
from alerts.models import Contact, Incident, OutboxMessage
from alerts.notifier import Policy, contact_targets
from core.models import Section
from sensors.local_time import SHANGHAI

DIGEST_LOCK = 0x52570003
MAX_SECTIONS_NAMED = 5  # an SMS has room for a few names, not eighteen


@dataclass(frozen=True, slots=True)
class SectionFigures:
    """A section's evaluation over a period, as the sections report writes it."""

    period: str  # the period's name, as GET /api/v1/reports/sections?period= takes it
    water_class: str  # Ⅰ … 劣Ⅴ; "" when no evaluated item had data
    main_pollutants_iii: str  # e.g. 氨氮(0.25),总磷(0.1)
    samples: int
    capture: float | None


# (session, section ids, first day, last day) -> figures by section id.
Figures = Callable[[Session, Sequence[int], date, date], Mapping[int, SectionFigures]]


def send_daily_digest(session: Session, policy: Policy, now: datetime, figures: Figures) -> int:
    """One message per office contact and channel a day; nothing when nothing is open.

    Every replica's scheduler fires this job: the lock makes them take turns, and the
    key of each day's message (date, contact, channel) lets only the first write it.
    """
    if not try_lock(session, DIGEST_LOCK):
        return 0
    rows = session.execute(
        select(Incident.severity, Section.id, Section.code, Section.name)
        .join(Section, Section.id == Incident.section_id)
        .where(
            Incident.state != State.RESOLVED,
            Incident.severity > Severity.INFO,
            # An unconfirmed warning is operations' until good data confirm it.
            Incident.confirmation.is_distinct_from(UNCONFIRMED),
        )
        .order_by(Incident.severity.desc(), Section.code)
    ).all()
    if not rows:
        return 0
    named = list(dict.fromkeys((sid, code, name) for _, sid, code, name in rows))
    shown = named[:MAX_SECTIONS_NAMED]
    yesterday = now.astimezone(SHANGHAI).date() - timedelta(days=1)
    found = figures(session, [sid for sid, _, _ in shown], yesterday, yesterday)
    listed = "、".join(f"{name}（{_brief(found.get(sid))}）" for sid, _, name in shown)
    if len(named) > MAX_SECTIONS_NAMED:
        listed += f"等{len(named)}个断面"
    fields = {
        "date": f"{now.astimezone(SHANGHAI):%m月%d日}",
        "open": str(len(rows)),
        "critical": str(sum(1 for severity, *_ in rows if severity == Severity.CRITICAL)),
        "sections": listed,
    }
    text = render("digest.daily", fields)
    # Webhooks get the figures as data too (an SMS gets the template's fields only).
    payload: dict[str, object] = {
        **fields,
        "figures": {code: _as_json(found[sid]) for sid, code, _ in shown if sid in found},
    }
    offices = session.scalars(
        select(Contact).where(Contact.level == "office", Contact.active).order_by(Contact.id)
    ).all()
    day = f"{now.astimezone(SHANGHAI):%Y%m%d}"
    written = set(
        session.scalars(
            select(OutboxMessage.idempotency_key).where(
                OutboxMessage.idempotency_key.startswith(f"digest_{day}_", autoescape=True)
            )
        )
    )
    sent = 0
    for contact in offices:
        for n, (channel, recipient) in enumerate(contact_targets(contact)):
            key = f"digest_{day}_{contact.id}_{n}"
            if key in written:
                continue
            outbox.enqueue(
                session,
                channel=channel,
                recipient=recipient,
                event="digest.daily",
                text=text,
                payload=payload,
                contact_id=contact.id,
                idempotency_key=key,
                not_before=policy.quiet_until(now) if channel is ChannelKind.SMS else None,
            )
            sent += 1
    return sent


def _brief(f: SectionFigures | None) -> str:
    if f is None or not f.water_class:
        return "昨日无评价数据"
    text = f"昨日{f.water_class}类"
    return f"{text}，{f.main_pollutants_iii}" if f.main_pollutants_iii else text


def _as_json(f: SectionFigures) -> dict[str, object]:
    return {
        "period": f.period,
        "class": f.water_class,
        "main_pollutants_iii": f.main_pollutants_iii,
        "samples": f.samples,
        "capture": f.capture,
    }
