"""The jobs that turn readings into incidents and incidents into messages.

Each job is one transaction the caller commits. Jobs that judge sections take a
transaction-level advisory lock, so with several replicas one judges at a time and
none opens an incident twice; escalation claims incidents with SKIP LOCKED.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from alerts import early_warning, metrics, notifier, verdicts
from alerts import incidents as lifecycle
from alerts.incidents import Change, Severity, State, Subject
from alerts.models import AlertRule, EvaluatorState, Incident
from alerts.rules import Persistence, RuleConfig, Series, Verdict, worst
from alerts.vocabulary import Rule
from core.catalogue import targets_in_force
from core.models import Section, Station, counted_value_sql
from sensors import evaluation
from sensors.local_time import SHANGHAI
from sensors.readings import pivot

EVALUATE_LOCK = 0x52570001  # advisory lock keys: "RW" + job number
SILENCE_LOCK = 0x52570002
LOOKBACK = timedelta(hours=24)

# The stations whose live readings changed since the last run, consumed: a trigger on
# readings writes evaluator_feed in the writing transaction, so what this DELETE sees is
# exactly what has committed. A transaction that commits late is read by the next run
# (no look-back to guess), and a run that rolls back leaves its rows for the next one.
FEED_SQL = text(
    """
    WITH consumed AS (DELETE FROM evaluator_feed RETURNING station_id, time, live, received_at),
    moved AS (
        -- Written here, under the evaluator's lock, not by the posts: they never wait on it.
        INSERT INTO station_latest AS l (station_id, time)
        SELECT c.station_id, max(c.time) FROM consumed c
        WHERE EXISTS (SELECT 1 FROM stations st WHERE st.id = c.station_id)
        GROUP BY c.station_id ORDER BY c.station_id
        ON CONFLICT (station_id) DO UPDATE SET time = excluded.time WHERE l.time < excluded.time
    )
    SELECT station_id, max(received_at) FROM consumed WHERE live GROUP BY station_id
    """
)
# Without a state (the first run, or after an operator deleted it to judge everything
# again): every section with live readings received in the lookback.
TOUCHED_SQL = text(
    """
    SELECT st.section_id, max(r.received_at)
    FROM readings r JOIN stations st ON st.id = r.station_id
    WHERE r.received_at > :since AND r.time > :oldest AND r.qc_flag = 1 AND NOT r.backfill
      AND st.section_id IS NOT NULL  -- an outfall of no section is read by tracing only
    GROUP BY st.section_id
    """
)
# What judge() reads of a station's series is its tail: the last `consecutive` evaluated
# times (FIRST: the last one) and, for a rolling mean, `window` back from its last time.
# So per station and parameter: its `rows` latest readings in the lookback (they hold
# every reading at the station's `rows` latest times) and those in the window before the
# station's latest. Reading the whole lookback instead made each run's memory and time
# grow with the hours of data kept (issue 15, item 13).
READINGS_SQL = text(
    f"""
    WITH latest AS (
        SELECT st.id AS station_id, max(l.time) AS time
        FROM stations st
        CROSS JOIN parameters p
        CROSS JOIN LATERAL (
            SELECT time FROM readings
            WHERE station_id = st.id AND parameter_id = p.id
              AND time >= :since AND qc_flag = 1 AND NOT backfill
            ORDER BY time DESC LIMIT 1
        ) AS l
        WHERE (st.section_id = ANY(:sections) OR st.id = ANY(:stations)) AND st.active
        GROUP BY st.id
    )
    SELECT r.station_id, floor(extract(epoch FROM r.time))::bigint AS t, r.parameter_id,
           {counted_value_sql("r")}
    FROM latest
    CROSS JOIN parameters p
    CROSS JOIN LATERAL (
        (SELECT station_id, time, parameter_id, value, below_detection FROM readings
         WHERE station_id = latest.station_id AND parameter_id = p.id
           AND time >= :since AND qc_flag = 1 AND NOT backfill
         ORDER BY time DESC LIMIT :rows)
        UNION
        (SELECT station_id, time, parameter_id, value, below_detection FROM readings
         WHERE station_id = latest.station_id AND parameter_id = p.id
           AND time >= greatest(:since, latest.time - :window) AND qc_flag = 1
           AND NOT backfill)
    ) AS r
    ORDER BY r.station_id, r.time
    """
)


@dataclass
class Stats:
    judged: int = 0
    opened: int = 0
    worsened: int = 0
    resolved: int = 0
    messages: int = 0
    skipped: bool = False  # another replica held the lock
    unconfirmed: list[int] = field(default_factory=list)  # opened on suspect readings


def rule_configs(session: Session) -> dict[Rule, RuleConfig]:
    return {
        Rule(r.code): RuleConfig(
            rule=Rule(r.code),
            enabled=r.enabled,
            persistence=Persistence(r.persistence),
            consecutive=r.consecutive,
            window_s=r.window_s,
            hold_s=r.hold_s,
            repeat_s=r.repeat_s,
            silent_factor=r.silent_factor,
            unconfirmed=r.unconfirmed,
            unconfirmed_tier1=r.unconfirmed_tier1,
            clear_margin=r.clear_margin,
            clear_readings=r.clear_readings,
        )
        for r in session.scalars(select(AlertRule))
    }


def try_lock(session: Session, key: int) -> bool:
    """A transaction-level advisory lock: one replica runs the job, the others skip it."""
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}))


def _tail(configs: dict[Rule, RuleConfig]) -> tuple[int, timedelta]:
    """How much of each series the enabled reading rules judge: the latest evaluated
    times (FIRST, CONSECUTIVE) and the longest rolling-mean window."""
    rows, window = 1, timedelta(0)
    for rule in (Rule.CLASS_V, Rule.TARGET_MISS):
        config = configs[rule]
        if not config.enabled:
            continue
        rows = max(rows, config.clear_readings)  # hysteresis: that many clear in a row
        if config.persistence is Persistence.CONSECUTIVE:
            rows = max(rows, config.consecutive)
        elif config.persistence is Persistence.ROLLING_MEAN:
            window = max(window, timedelta(seconds=config.window_s))
    return rows, window


def _series(
    session: Session,
    section_ids: list[int],
    now: datetime,
    configs: dict[Rule, RuleConfig],
    station_ids: Collection[int] = (),
) -> dict[int, list[Series]]:
    """The recent QC-good series of the active stations of the sections and of the
    stations given, by section, evaluated in one vectorised call."""
    rows_needed, window = _tail(configs)
    rows = session.execute(
        READINGS_SQL,
        {
            "sections": section_ids,
            "stations": list(station_ids),
            "since": now - LOOKBACK,
            "rows": rows_needed,
            "window": window,
        },
    ).all()
    if not rows:
        return {}
    found = {r[0] for r in rows}
    stations = {s.id: s for s in session.scalars(select(Station).where(Station.id.in_(found)))}
    # Every station read is of a section (READINGS_SQL): outfalls are traced, not judged.
    in_sections = {s.section_id for s in stations.values() if s.section_id is not None}
    sections = {
        s.id: s for s in session.scalars(select(Section).where(Section.id.in_(in_sections)))
    }
    targets = targets_in_force(session, in_sections, now.astimezone(SHANGHAI).year)

    # Plain tuples: numpy would probe each Row for array interfaces, slowly.
    table = np.array([tuple(r) for r in rows], dtype=np.float64)  # station, time, pid, value
    station, t = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    parameter, value = table[:, 2].astype(np.int64), table[:, 3]
    # Sorted by station and time: a new evaluated row wherever either changes.
    starts = np.r_[True, (station[1:] != station[:-1]) | (t[1:] != t[:-1])]
    row = np.cumsum(starts) - 1
    row_station, row_time = station[starts], t[starts]
    values = pivot(row, parameter, value, row_time.size)

    section_of = {sid: stations[sid].section_id for sid in np.unique(row_station).tolist()}
    row_section = np.array([section_of[s] for s in row_station.tolist()])
    lake = np.array([sections[s].waterbody == "lake" for s in row_section.tolist()])
    binding = np.array([targets.get(s, (0, None))[0] for s in row_section.tolist()])
    judged = evaluation.evaluate(values, waterbody=lake, target=binding.astype(np.int8))

    out: dict[int, list[Series]] = defaultdict(list)
    bounds = np.flatnonzero(np.r_[True, row_station[1:] != row_station[:-1], True])
    for start, stop in itertools.pairwise(bounds.tolist()):
        station_row = stations[int(row_station[start])]
        section = sections[station_row.section_id or 0]  # of section_ids, by the query
        binding_class, stretch = targets.get(section.id, (0, None))
        out[section.id].append(
            Series(
                station_id=station_row.id,
                station_code=station_row.code,
                times=row_time[start:stop],
                values={code: column[start:stop] for code, column in values.items()},
                waterbody=section.waterbody,
                binding=binding_class or 0,
                stretch=stretch or 0,
                evaluation=judged,
                first_row=start,
            )
        )
    return out


def evaluate(
    session: Session,
    policy: notifier.Policy,
    now: datetime,
    late_horizon: timedelta = LOOKBACK,
) -> Stats:
    """Judge the sections with new readings or open incidents; raise, update, resolve."""
    stats = Stats()
    if not try_lock(session, EVALUATE_LOCK):
        stats.skipped = True
        return stats
    metrics.EVALUATOR_RUNS.inc()
    state = session.get(EvaluatorState, "readings", with_for_update=True)
    changed, whole = _changed(session, now, late_horizon, full=state is None)
    open_rows = session.scalars(
        select(Incident).where(
            Incident.state != State.RESOLVED,
            Incident.rule.in_([Rule.CLASS_V, Rule.TARGET_MISS]),
        )
    ).all()
    where = select(Station.id, Station.section_id).where(
        Station.id.in_(changed), Station.section_id.is_not(None)
    )
    section_of: dict[int, int] = (
        {s: sec for s, sec in session.execute(where) if sec} if changed else {}
    )
    section_ids = sorted(
        set(section_of.values()) | whole | {i.section_id for i in open_rows if i.section_id}
    )
    if state is None:
        whole = set(section_ids)  # a full run trusts no stored verdict
    waiting = early_warning.waiting(open_rows)
    configs = rule_configs(session)
    judged = verdicts.judge_sections(
        session, section_ids, whole, section_of, now, configs, read=_series, since=now - LOOKBACK
    )

    for section_id in section_ids:
        stats.judged += 1
        section_stations = judged.get(section_id, [])
        for rule in (Rule.CLASS_V, Rule.TARGET_MISS):
            config, subject = configs[rule], Subject(rule, section_id)
            if not config.enabled:
                _retire(session, subject, now, stats)
                continue
            offences = [v for s in section_stations if (v := s.verdicts.get(rule))]
            if subject in waiting:  # an unconfirmed warning: confirmed, withdrawn or not yet
                stats.messages += early_warning.settle(
                    session, subject, config, worst(offences), section_stations, policy, now
                )
                continue
            _apply(session, subject, config, worst(offences), section_stations, policy, now, stats)
        _tell_target_miss_once_class_v_is_gone(session, section_id, configs, policy, now, stats)
    # A live reading is at most the late horizon older than its arrival, and it arrived
    # after the previous run; twice the horizon leaves room for a run that came late.
    _warn_early(session, configs, policy, changed, now - 2 * late_horizon, now, stats)

    # The state says the feed is followed from here on; received_until is the newest
    # arrival judged, for the operator.
    newest = max(changed.values(), default=None)
    if newest is not None:
        metrics.EVALUATOR_LAG.observe(max((now - newest).total_seconds(), 0.0))
    if state is None:
        session.add(EvaluatorState(name="readings", received_until=newest or now))
    elif newest is not None and newest > state.received_until:
        state.received_until = newest
    return stats


def _warn_early(
    session: Session,
    configs: dict[Rule, RuleConfig],
    policy: notifier.Policy,
    stations: Collection[int],
    oldest: datetime,
    now: datetime,
    stats: Stats,
) -> None:
    """Suspect readings that would raise open unconfirmed incidents (alerts.early_warning)."""
    if not stations:
        return
    opened, messages = early_warning.warn(session, configs, policy, stations, oldest, now)
    stats.unconfirmed += opened
    stats.opened += len(opened)
    stats.messages += messages


def _changed(
    session: Session, now: datetime, late_horizon: timedelta, *, full: bool
) -> tuple[dict[int, datetime], set[int]]:
    """The stations with changed live readings and when the newest of them arrived; and,
    in a full run, the sections to judge whole."""
    changed: dict[int, datetime] = dict(session.execute(FEED_SQL).all())
    whole: set[int] = set()
    if full:
        since = now - LOOKBACK
        # Live readings are never older than the late horizon before their arrival: the
        # bound on time lets TimescaleDB skip every older chunk.
        scanned = session.execute(TOUCHED_SQL, {"since": since, "oldest": since - late_horizon})
        whole = {section_id for section_id, _ in scanned}
    return changed, whole


def _current(stations: list[verdicts.StationVerdicts]) -> dict[str, Any]:
    """The section's class at its stations' latest times, for a resolution message."""
    if not stations:
        return {}
    return {
        "class": max(s.latest_class for s in stations),
        "time": max(s.latest for s in stations),
    }


def _apply(
    session: Session,
    subject: Subject,
    config: RuleConfig,
    verdict: Verdict | None,
    stations: list[verdicts.StationVerdicts],
    policy: notifier.Policy,
    now: datetime,
    stats: Stats,
) -> None:
    if verdict is not None:
        incident, change = lifecycle.raise_or_update(
            session, subject, severity=verdict.severity, details=verdict.details, at=now
        )
        stats.opened += change is Change.OPENED
        stats.worsened += change is Change.WORSENED
        if incident.severity > Severity.INFO and incident.next_reminder_at is None:
            incident.next_reminder_at = now + timedelta(seconds=config.repeat_s)
        if change in (Change.OPENED, Change.WORSENED) and _should_notify(session, incident):
            stats.messages += notifier.on_raised(session, incident, policy, now)
        return
    clear = lifecycle.find_open(session, subject)
    if clear is None:
        return
    # Only a newer judged reading shows the condition has cleared: a station that went
    # quiet, or whose data all failed QC, proves nothing (silence has its own rule).
    latest = max((s.latest for s in stations), default=None)
    if latest is None or latest <= int(clear.details.get("time", 0)):
        return
    if not all(Rule(subject.rule) in s.clear for s in stations):
        clear.clear_since = None  # hysteresis: still within the margin of the limit
        return
    lifecycle.mark_clear(session, clear, now)
    assert clear.clear_since is not None
    if now - clear.clear_since >= timedelta(seconds=config.hold_s):
        lifecycle.resolve(session, clear, at=now, note="clear for the hold period")
        stats.resolved += 1
        stats.messages += notifier.on_resolved(session, clear, policy, now, _current(stations))


def _retire(session: Session, subject: Subject, now: datetime, stats: Stats) -> None:
    """A disabled rule's open incident ends quietly: nobody is told the water recovered."""
    incident = lifecycle.find_open(session, subject)
    if incident is not None:
        lifecycle.resolve(session, incident, at=now, note="rule disabled")
        stats.resolved += 1


def _should_notify(session: Session, incident: Incident) -> bool:
    """A target miss of a section that is also class V is told by the class-V message."""
    if incident.rule != Rule.TARGET_MISS:
        return True
    class_v = lifecycle.find_open(session, Subject(Rule.CLASS_V, incident.section_id), lock=False)
    return class_v is None


def _tell_target_miss_once_class_v_is_gone(
    session: Session,
    section_id: int,
    configs: dict[Rule, RuleConfig],
    policy: notifier.Policy,
    now: datetime,
    stats: Stats,
) -> None:
    """A target miss held back while class V was open is told when class V is gone."""
    miss = lifecycle.find_open(session, Subject(Rule.TARGET_MISS, section_id))
    if (
        miss is not None
        and miss.state == State.OPEN
        and miss.confirmation != early_warning.UNCONFIRMED
        and miss.severity > Severity.INFO
        and miss.notified_severity < miss.severity
        and _should_notify(session, miss)
    ):
        if miss.next_reminder_at is None:
            miss.next_reminder_at = now + timedelta(seconds=configs[Rule.TARGET_MISS].repeat_s)
        stats.messages += notifier.on_raised(session, miss, policy, now)


def escalate(session: Session, policy: notifier.Policy, now: datetime) -> int:
    """Escalations and reminders that are due; each incident claimed by one replica."""
    configs = rule_configs(session)
    due = session.scalars(
        select(Incident)
        .where(
            Incident.state == State.OPEN,
            (Incident.next_escalation_at <= now) | (Incident.next_reminder_at <= now),
        )
        .with_for_update(skip_locked=True)
    ).all()
    sent = 0
    for incident in due:
        config = configs[Rule(incident.rule)]
        if not config.enabled:
            continue  # the evaluator and the silence check retire these
        repeat = timedelta(seconds=config.repeat_s)
        if incident.next_escalation_at is not None and incident.next_escalation_at <= now:
            sent += notifier.on_escalation_due(session, incident, policy, now)
            # Those just told need no reminder at the same moment; the rest get one later.
            if incident.next_reminder_at is not None and incident.next_reminder_at <= now:
                incident.next_reminder_at = now + repeat
        elif incident.next_reminder_at is not None and incident.next_reminder_at <= now:
            sent += notifier.on_reminder_due(session, incident, policy, now, repeat)
    return sent
