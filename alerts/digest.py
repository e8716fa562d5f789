"""The daily digest for the 治水办 offices: what is still open, and where."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.channels.base import ChannelKind
from alerts.channels.templates import render
from alerts.incidents import Severity, State
from alerts.models import Contact, Incident
from alerts.notifier import SHANGHAI, Policy
from app.models import Section

MAX_SECTIONS_NAMED = 5  # an SMS has room for a few names, not eighteen


def send_daily_digest(session: Session, policy: Policy, now: datetime) -> int:
    """One message per office contact; nothing when nothing is open."""
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
    sent = 0
    for contact in offices:
        if contact.phone:
            outbox.enqueue(
                session,
                channel=ChannelKind.SMS,
                recipient=contact.phone,
                event="digest.daily",
                text=text,
                payload=fields,
                contact_id=contact.id,
                not_before=policy.quiet_until(now),
            )
            sent += 1
        for endpoint in contact.endpoints:
            if endpoint.active:
                outbox.enqueue(
                    session,
                    channel=ChannelKind.WEBHOOK,
                    recipient=endpoint.url,
                    event="digest.daily",
                    text=text,
                    payload=fields,
                    contact_id=contact.id,
                )
                sent += 1
    return sent
