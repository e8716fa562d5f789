"""Who is told what, when: messages for incident events, written to the outbox.

Recipients come from the section's route (tiers of river chiefs; operations staff for
station silence). SMS goes to a contact's phone and a webhook to each of its endpoints.
Informational incidents send no SMS; non-critical SMS wait out the quiet hours; a mute
window holds back every message for its section or station.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from alerts import acklinks, contacts, outbox, trace
from alerts.channels.base import ChannelKind
from alerts.channels.templates import class_label, format_time, render
from alerts.incidents import Severity, add_event
from alerts.models import Contact, Incident
from alerts.vocabulary import Event, Rule
from core.models import Section, Station
from sensors.local_time import SHANGHAI
from sensors.parameters import BY_CODE

LEVEL_ZH = {
    "liaison": "联络员",
    "village": "村级",
    "township": "镇级",
    "county": "县级",
    "office": "治水办",
    "operations": "运维",
}


@dataclass(frozen=True, slots=True)
class Policy:
    secret_key: bytes  # signs ack links
    public_url: str
    ack_ttl: timedelta
    quiet_start: time | None = None  # Asia/Shanghai; None: no quiet hours
    quiet_end: time | None = None
    escalation_delays_s: Sequence[int] = (0, 1800, 7200)

    @staticmethod
    def parse_quiet_hours(text: str) -> tuple[time | None, time | None]:
        """'22:00-07:00' → (22:00, 07:00); '' → no quiet hours."""
        if not text.strip():
            return None, None
        start, _, end = text.partition("-")
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())

    def quiet_until(self, at: datetime) -> datetime | None:
        """The end of the quiet hours `at` falls in, or None outside them."""
        if self.quiet_start is None or self.quiet_end is None:
            return None
        local = at.astimezone(SHANGHAI)
        t = local.timetz().replace(tzinfo=None)
        if self.quiet_start <= self.quiet_end:
            inside = self.quiet_start <= t < self.quiet_end
        else:  # spans midnight
            inside = t >= self.quiet_start or t < self.quiet_end
        if not inside:
            return None
        end = local.replace(
            hour=self.quiet_end.hour, minute=self.quiet_end.minute, second=0, microsecond=0
        )
        return end if end > local else end + timedelta(days=1)

    def delay_of(self, tier: int, section_delays: dict[int, int]) -> int | None:
        if section_delays:
            return section_delays.get(tier)
        return self.escalation_delays_s[tier - 1] if tier <= len(self.escalation_delays_s) else None


def _fields(session: Session, incident: Incident) -> dict[str, str]:
    d = incident.details
    section = session.get(Section, incident.section_id) if incident.section_id else None
    fields = {
        "section": section.name if section else "",
        "since": format_time(incident.opened_at),
        "time": format_time(datetime.fromtimestamp(d["time"], UTC)) if "time" in d else "",
        "class": class_label(d["class"]) if d.get("class") else "",
        "target": class_label(d["target"]) if d.get("target") else "",
    }
    code = d.get("indicator")
    if code:
        parameter = BY_CODE[code]
        value = d["items"][code]["value"]
        fields |= {
            "indicator": parameter.name_zh,
            "value": (
                f"{value:.{parameter.precision}f}"
                if parameter.precision is not None
                else f"{value:g}"
            ),
            "unit": parameter.unit,
        }
    if incident.station_id is not None:
        station = session.get(Station, incident.station_id)
        fields["station"] = station.name if station else ""
        if d.get("last_reading"):
            fields["since"] = format_time(datetime.fromisoformat(d["last_reading"]))
    return fields


def contact_targets(contact: Contact, *, sms: bool = True) -> list[tuple[ChannelKind, str]]:
    """Where a contact is reached: their phone by SMS, each active webhook endpoint."""
    targets = [(ChannelKind.SMS, contact.phone)] if sms and contact.phone else []
    return targets + [(ChannelKind.WEBHOOK, e.url) for e in contact.endpoints if e.active]


def _send(
    session: Session,
    incident: Incident,
    recipients: Iterable[Contact],
    event: str,
    fields: dict[str, str],
    policy: Policy,
    now: datetime,
) -> int:
    text = render(event, fields)
    payload: dict[str, Any] = {
        **fields,
        "incident_id": incident.id,
        "rule": incident.rule,
        "severity": Severity(incident.severity).name.lower(),
        "state": incident.state,
        # "unconfirmed": raised on a QC-suspect reading; null: raised on good data.
        "confirmation": incident.confirmation,
        "details": incident.details,
        "trace": trace.brief(incident.trace),
    }
    sms_wait = None if incident.severity == Severity.CRITICAL else policy.quiet_until(now)
    count = 0
    for contact in recipients:
        token = acklinks.make_token(
            policy.secret_key, incident.id, contact.id, now + policy.ack_ttl
        )
        personal = {**payload, "ack_url": acklinks.ack_url(policy.public_url, token)}
        for channel, recipient in contact_targets(contact, sms=incident.severity > Severity.INFO):
            is_sms = channel is ChannelKind.SMS
            if is_sms and sms_wait is not None and event == Event.REMINDER:
                # Reminders queued for the end of the quiet hours: one is enough.
                outbox.cancel_pending(
                    session,
                    incident.id,
                    (event,),
                    "superseded by a newer reminder",
                    contact_id=contact.id,
                    channel=channel,
                )
            outbox.enqueue(
                session,
                channel=channel,
                recipient=recipient,
                event=event,
                text=text,
                payload=personal,
                incident_id=incident.id,
                contact_id=contact.id,
                not_before=sms_wait if is_sms else None,
            )
            count += 1
    add_event(
        session,
        incident,
        "notified",
        now,
        event=event,
        messages=count,
        deferred_until=sms_wait.isoformat() if sms_wait else None,
    )
    return count


def _muted(session: Session, incident: Incident, now: datetime, event: str) -> bool:
    if contacts.is_muted(
        session, section_id=incident.section_id, station_id=incident.station_id, at=now
    ):
        add_event(session, incident, "muted", now, event=event)
        return True
    return False


def _chiefs(session: Session, incident: Incident, tiers: range) -> list[Contact]:
    assert incident.section_id is not None
    return [c for c, tier in contacts.routes_for(session, incident.section_id) if tier in tiers]


def event_name(incident: Incident) -> str:
    return Rule(incident.rule).raises


def escalation_start(incident: Incident) -> datetime:
    """Chiefs escalate from when the incident was raised on good data: an unconfirmed
    warning's time before confirmation does not count against tier 1."""
    return incident.confirmed_at or incident.opened_at


def on_raised(session: Session, incident: Incident, policy: Policy, now: datetime) -> int:
    """A new or worse incident: tell every tier due by now, schedule the next ones."""
    fields = _fields(session, incident)
    if incident.rule == Rule.STATION_SILENT:
        assert incident.section_id is not None
        sent = (
            0
            if _muted(session, incident, now, Event.STATION_SILENT)
            else _send(
                session,
                incident,
                contacts.operations_contacts(session, incident.section_id),
                Event.STATION_SILENT,
                fields,
                policy,
                now,
            )
        )
        incident.notified_severity = incident.severity
        return sent
    delays = contacts.escalation_delays(session, incident.section_id or 0)
    elapsed = (now - escalation_start(incident)).total_seconds()
    due = incident.notified_tier
    while (delay := policy.delay_of(due + 1, delays)) is not None and delay <= elapsed:
        due += 1
    due = max(due, 1)
    sent = 0
    if not _muted(session, incident, now, event_name(incident)):
        sent = _send(
            session,
            incident,
            _chiefs(session, incident, range(1, due + 1)),
            event_name(incident),
            fields,
            policy,
            now,
        )
    incident.notified_severity = incident.severity
    incident.notified_tier = due
    _schedule(incident, policy, delays, now)
    return sent


def _schedule(incident: Incident, policy: Policy, delays: dict[int, int], now: datetime) -> None:
    if incident.severity == Severity.INFO or incident.state != "open":
        incident.next_escalation_at = incident.next_reminder_at = None
        return
    delay = policy.delay_of(incident.notified_tier + 1, delays)
    incident.next_escalation_at = (
        escalation_start(incident) + timedelta(seconds=delay) if delay is not None else None
    )


def on_escalation_due(session: Session, incident: Incident, policy: Policy, now: datetime) -> int:
    """The next tier's delay passed with no acknowledgement: tell that tier."""
    assert incident.section_id is not None
    previous = incident.notified_tier
    incident.notified_tier = previous + 1
    add_event(session, incident, "escalated", now, tier=incident.notified_tier)
    fields = _fields(session, incident)
    below = [c for c, tier in contacts.routes_for(session, incident.section_id) if tier == previous]
    fields["level"] = LEVEL_ZH.get(below[0].level, "") if below else ""
    sent = 0
    if not _muted(session, incident, now, Event.ESCALATED):
        recipients = _chiefs(
            session, incident, range(incident.notified_tier, incident.notified_tier + 1)
        )
        sent = _send(session, incident, recipients, Event.ESCALATED, fields, policy, now)
    _schedule(incident, policy, contacts.escalation_delays(session, incident.section_id), now)
    return sent


def on_reminder_due(
    session: Session, incident: Incident, policy: Policy, now: datetime, repeat: timedelta
) -> int:
    """Still open and unacknowledged: remind everyone told so far."""
    incident.next_reminder_at = now + repeat
    if _muted(session, incident, now, Event.REMINDER):
        return 0
    recipients = (
        contacts.operations_contacts(session, incident.section_id or 0)
        if incident.rule == Rule.STATION_SILENT
        else _chiefs(session, incident, range(1, incident.notified_tier + 1))
    )
    event = Event.STATION_SILENT if incident.rule == Rule.STATION_SILENT else Event.REMINDER
    return _send(session, incident, recipients, event, _fields(session, incident), policy, now)


def on_resolved(
    session: Session, incident: Incident, policy: Policy, now: datetime, current: dict[str, Any]
) -> int:
    """Tell everyone who was told, with the class the section is back to."""
    if incident.notified_severity == 0 or incident.rule == Rule.STATION_SILENT:
        return 0
    if _muted(session, incident, now, "resolved"):
        return 0
    fields = _fields(session, incident)
    if current.get("class"):
        fields["class"] = class_label(current["class"])
        fields["time"] = format_time(datetime.fromtimestamp(current["time"], UTC))
    # Out of class V is not yet back on target: each rule says only what it knows.
    event = Event.CLASS_V_CLEARED if incident.rule == Rule.CLASS_V else Event.RESOLVED
    return _send(
        session,
        incident,
        _chiefs(session, incident, range(1, incident.notified_tier + 1)),
        event,
        fields,
        policy,
        now,
    )


def on_unconfirmed(
    session: Session, incident: Incident, policy: Policy, now: datetime, *, tier1: bool
) -> int:
    """A warning raised on a QC-suspect reading: operations and, if the rule says so, the
    tier-1 chiefs, at once; nobody is escalated to until a good reading confirms it."""
    assert incident.section_id is not None
    if _muted(session, incident, now, Event.UNCONFIRMED):
        return 0
    recipients = contacts.operations_contacts(session, incident.section_id)
    if tier1:
        recipients += _chiefs(session, incident, range(1, 2))
    unique = list({c.id: c for c in recipients}.values())
    return _send(
        session, incident, unique, Event.UNCONFIRMED, _fields(session, incident), policy, now
    )


def on_not_confirmed(
    session: Session,
    incident: Incident,
    told: Sequence[Contact],
    policy: Policy,
    now: datetime,
    current: dict[str, Any],
) -> int:
    """The next good reading did not bear the warning out: a short word to those told."""
    if not told or _muted(session, incident, now, Event.NOT_CONFIRMED):
        return 0
    fields = _fields(session, incident)
    if current.get("class"):
        fields["class"] = class_label(current["class"])
        fields["time"] = format_time(datetime.fromtimestamp(current["time"], UTC))
    return _send(session, incident, told, Event.NOT_CONFIRMED, fields, policy, now)
