"""Early warning: a reading that would raise an incident but is QC-suspect (a spike, a
jump faster than the rate test allows, a logger's S or T flag) opens the incident as
unconfirmed at once, rather than an interval later when a good reading would.

The suspect reading itself never counts (not for classes, reports, or the rules on good
data): it only opens the unconfirmed incident. The next good reading of the station
settles it: offending, the rule raises as usual and the incident is confirmed (the chiefs
are told as for any incident); not offending, it is withdrawn as not confirmed, and
whoever was told hears so.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from alerts import incidents as lifecycle
from alerts import notifier
from alerts.incidents import Severity, Subject
from alerts.models import Contact, Incident, OutboxMessage, OutboxStatus
from alerts.rules import Persistence, RuleConfig, Series, Verdict, judge, severity_of
from alerts.verdicts import StationVerdicts
from alerts.vocabulary import Event, Rule
from core.catalogue import targets_in_force
from core.models import Section, Station, counted_value_sql
from sensors import evaluation
from sensors.local_time import SHANGHAI
from sensors.parameters import BY_ID
from sensors.qc import QCFlag

UNCONFIRMED, CONFIRMED, NOT_CONFIRMED = "unconfirmed", "confirmed", "not_confirmed"
RULES = (Rule.CLASS_V, Rule.TARGET_MISS)

# Per station the evaluator's feed named, its latest live suspect time, unless a good
# reading of the station is as new or newer (then the rules on good data decide) or it
# warned already (so a station's next post does not warn of the same reading again).
SUSPECT_SQL = text(
    f"""
    SELECT DISTINCT ON (r.station_id) r.station_id, r.time
    FROM readings r JOIN stations st ON st.id = r.station_id
    WHERE r.station_id = ANY(:stations) AND r.time > :oldest
      AND r.qc_flag = {int(QCFlag.SUSPECT)}
      AND NOT r.backfill AND st.active AND st.section_id IS NOT NULL
      AND NOT EXISTS (
        SELECT 1 FROM readings g
        WHERE g.station_id = r.station_id AND g.time >= r.time
          AND g.qc_flag = {int(QCFlag.GOOD)} AND NOT g.backfill
      )
      AND NOT EXISTS (
        SELECT 1 FROM incidents i JOIN incident_events e ON e.incident_id = i.id
        WHERE i.section_id = st.section_id AND i.confirmation IS NOT NULL
          AND e.kind = '{UNCONFIRMED}'
          AND e.details @> jsonb_build_object(
                'station', st.code, 'time', floor(extract(epoch FROM r.time))::bigint)
      )
    ORDER BY r.station_id, r.time DESC
    """
)
# The station's good and suspect values at that time: a suspect item judged with the
# good items measured beside it.
VALUES_SQL = text(
    f"""
    SELECT r.parameter_id, {counted_value_sql("r")}
    FROM readings r
    WHERE r.station_id = :station AND r.time = :time
      AND r.qc_flag IN ({int(QCFlag.GOOD)}, {int(QCFlag.SUSPECT)})
    """
)


def _suspect_series(session: Session, station: Station, section: Section, at: datetime) -> Series:
    rows = session.execute(VALUES_SQL, {"station": station.id, "time": at}).all()
    values = {BY_ID[int(pid)].code: np.array([float(v)]) for pid, v in rows}
    binding, stretch = targets_in_force(session, [section.id], at.astimezone(SHANGHAI).year).get(
        section.id, (0, None)
    )
    return Series(
        station_id=station.id,
        station_code=station.code,
        times=np.array([int(at.timestamp())], dtype=np.int64),
        values=values,
        waterbody=section.waterbody,
        binding=binding or 0,
        stretch=stretch or 0,
        evaluation=evaluation.evaluate(values, waterbody=section.waterbody, target=binding or None),
        first_row=0,
    )


def warn(
    session: Session,
    configs: dict[Rule, RuleConfig],
    policy: notifier.Policy,
    stations: Collection[int],
    oldest: datetime,
    now: datetime,
) -> tuple[list[int], int]:
    """Open unconfirmed incidents for new suspect readings that would raise; the ids
    opened (for re-measure requests) and the messages written."""
    wanted = [r for r in RULES if configs[r].enabled and configs[r].unconfirmed]
    if not wanted:
        return [], 0
    opened: list[int] = []
    messages = 0
    suspects = session.execute(SUSPECT_SQL, {"stations": sorted(stations), "oldest": oldest}).all()
    for station_id, at in suspects:
        station = session.get(Station, station_id)
        assert station is not None
        section = station.section
        if section is None:  # not selected (SUSPECT_SQL); for the type checker
            continue
        series = _suspect_series(session, station, section, at)
        for rule in wanted:
            # One reading: persistence cannot apply; the jump itself is the warning.
            config = configs[rule]
            if config.persistence is not Persistence.ROLLING_MEAN:
                config = replace(config, persistence=Persistence.FIRST)
            verdict = judge(config, series)
            subject = Subject(rule, section.id)
            if (
                verdict is None
                or verdict.severity <= Severity.INFO
                or lifecycle.find_open(session, subject) is not None
            ):
                continue
            incident = _open(session, subject, verdict, now)
            opened.append(incident.id)
            if not _told_by_class_v(session, incident):
                messages += notifier.on_unconfirmed(
                    session, incident, policy, now, tier1=config.unconfirmed_tier1
                )
    return opened, messages


def _open(session: Session, subject: Subject, verdict: Verdict, now: datetime) -> Incident:
    details = {**verdict.details, "qc": "suspect"}
    incident, _ = lifecycle.raise_or_update(
        session, subject, severity=verdict.severity, details=details, at=now
    )
    incident.confirmation = UNCONFIRMED
    lifecycle.add_event(
        session, incident, UNCONFIRMED, now, station=details["station"], time=details["time"]
    )
    return incident


def _told_by_class_v(session: Session, incident: Incident) -> bool:
    """A target miss beside an open class-V incident is told by the class-V message."""
    if incident.rule != Rule.TARGET_MISS:
        return False
    subject = Subject(Rule.CLASS_V, incident.section_id)
    return lifecycle.find_open(session, subject, lock=False) is not None


def waiting(open_incidents: Iterable[Incident]) -> set[Subject]:
    """The subjects whose open incident awaits confirmation."""
    return {Subject(i.rule, i.section_id) for i in open_incidents if i.confirmation == UNCONFIRMED}


def settle(
    session: Session,
    subject: Subject,
    config: RuleConfig,
    verdict: Verdict | None,
    stations: list[StationVerdicts],
    policy: notifier.Policy,
    now: datetime,
) -> int:
    """The evaluator's step for a subject with an unconfirmed incident, instead of the
    usual one; the messages written."""
    incident = lifecycle.find_open(session, subject)
    if incident is None or incident.confirmation != UNCONFIRMED:
        return 0  # settled since the evaluator read it
    if verdict is not None and verdict.severity > Severity.INFO:
        return _confirm(session, incident, config, verdict, policy, now)
    mine = [s for s in stations if s.station_code == incident.details.get("station")]
    suspect_time = int(incident.details.get("time", 0))
    if not mine or mine[0].latest <= suspect_time:
        return 0  # no good reading since: still waiting
    station = mine[0]
    year = datetime.fromtimestamp(station.latest, SHANGHAI).year
    section_id = incident.section_id
    assert section_id is not None  # the reading rules are about sections
    binding, stretch = targets_in_force(session, [section_id], year).get(section_id, (0, None))
    klass = np.array([station.latest_class], dtype=np.int8)
    if severity_of(Rule(subject.rule), klass, binding or 0, stretch or 0)[0] > Severity.INFO:
        return 0  # offending, but the rule's persistence is not met yet
    current = {"class": station.latest_class, "time": station.latest}
    return _withdraw(session, incident, policy, now, current)


def _confirm(
    session: Session,
    incident: Incident,
    config: RuleConfig,
    verdict: Verdict,
    policy: notifier.Policy,
    now: datetime,
) -> int:
    subject = Subject(incident.rule, incident.section_id)
    lifecycle.raise_or_update(
        session, subject, severity=verdict.severity, details=verdict.details, at=now
    )
    # The good data decide the severity: the suspect reading's (a 劣Ⅴ spike confirmed by
    # a class-Ⅴ reading) never counts, raise_or_update's max() notwithstanding.
    incident.severity = verdict.severity
    incident.confirmation = CONFIRMED
    incident.confirmed_at = now
    lifecycle.add_event(
        session, incident, CONFIRMED, now, station=verdict.details["station"], time=verdict.time
    )
    incident.next_reminder_at = now + timedelta(seconds=config.repeat_s)
    if _told_by_class_v(session, incident):
        return 0
    return notifier.on_raised(session, incident, policy, now)


def _withdraw(
    session: Session,
    incident: Incident,
    policy: notifier.Policy,
    now: datetime,
    current: dict[str, Any],
) -> int:
    incident.confirmation = NOT_CONFIRMED
    # resolve() cancels warnings still waiting (quiet hours): their recipients were never
    # told, so they need no withdrawal either.
    lifecycle.resolve(session, incident, at=now, note="not confirmed by the next good reading")
    told = list(
        session.scalars(
            select(Contact)
            .where(
                Contact.id.in_(
                    select(OutboxMessage.contact_id).where(
                        OutboxMessage.incident_id == incident.id,
                        OutboxMessage.event == Event.UNCONFIRMED,
                        OutboxMessage.status != OutboxStatus.CANCELLED,
                    )
                )
            )
            .order_by(Contact.id)
        )
    )
    return notifier.on_not_confirmed(session, incident, told, policy, now, current)
