"""The daily digest for the 治水办 offices: what is still open, and where."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.channels.base import ChannelKind
from alerts.channels.templates import render
from alerts.evaluator import try_lock
from alerts.incidents import Severity, State
from alerts.models import Contact, Incident, OutboxMessage
from alerts.notifier import Policy, contact_targets
from core.models import Section
from sensors.local_time import SHANGHAI

DIGEST_LOCK = 0x52570003
MAX_SECTIONS_NAMED = 5  # an SMS has room for a few names, not eighteen


def send_daily_digest(session: Session, policy: Policy, now: datetime) -> int:
    """One message per office contact and channel a day; nothing when nothing is open.

    Every replica's scheduler fires this job: the lock makes them take turns, and the
    key of each day's message (date, contact, channel) lets only the first write it.
    """
    if not try_lock(session, DIGEST_LOCK):
        return 0
    rows = session.execute(
        select(Incident.severity, Section.name)
        .join(Section, Section.id == Incident.section_id)
        .where(Incident.state != State.RESOLVED, Incident.severity > Severity.INFO)
        .order_by(Incident.severity.desc(), Section.code)
    ).all()
    if not rows:
        return 0
    names = list(dict.fromkeys(name for _, name in rows))
    listed = "、".join(names[:MAX_SECTIONS_NAMED])
    if len(names) > MAX_SECTIONS_NAMED:
        listed += f"等{len(names)}个断面"
    fields = {
        "date": f"{now.astimezone(SHANGHAI):%m月%d日}",
        "open": str(len(rows)),
        "critical": str(sum(1 for severity, _ in rows if severity == Severity.CRITICAL)),
        "sections": listed,
    }
    text = render("digest.daily", fields)
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
                payload=fields,
                contact_id=contact.id,
                idempotency_key=key,
                not_before=policy.quiet_until(now) if channel is ChannelKind.SMS else None,
            )
            sent += 1
    return sent
