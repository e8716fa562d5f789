"""Each station's last verdicts, kept between evaluator runs.

A section's verdict is the worst of its stations' (alerts.rules.worst). The evaluator
reads the readings of the stations that changed and takes the others' verdicts from
here, so a run costs what changed, not what the section has: reading every station of
a touched section cost 0.2 s for 56 stations on TimescaleDB (two index probes per
station and item). A stored verdict is used only while the rules, the year's targets
and the section's waterbody it was judged under are still those in force (its basis),
and while the station's latest time is within the evaluator's lookback; otherwise the
section's stations are read again. Written under the evaluator's advisory lock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerts.incidents import Severity
from alerts.models import StationVerdict
from alerts.rules import RuleConfig, Series, Verdict, is_clear, judge
from alerts.vocabulary import Rule
from core.catalogue import targets_in_force
from core.models import Section, Station
from sensors.local_time import SHANGHAI

READING_RULES = (Rule.CLASS_V, Rule.TARGET_MISS)
KEPT = ("basis", "latest", "latest_class", "verdicts", "clear")
Read = Callable[
    [Session, list[int], datetime, dict[Rule, RuleConfig], Collection[int]],
    dict[int, list[Series]],
]


@dataclass(frozen=True, slots=True)
class StationVerdicts:
    station_id: int
    station_code: str
    latest: int  # epoch seconds of the station's latest evaluated time
    latest_class: int  # the station's class at that time
    verdicts: dict[Rule, Verdict]
    clear: frozenset[Rule]  # the rules under which it is clear by their hysteresis


def of_series(series: Series, configs: dict[Rule, RuleConfig]) -> StationVerdicts:
    last = series.rows.stop - 1
    return StationVerdicts(
        station_id=series.station_id,
        station_code=series.station_code,
        latest=int(series.times[-1]),
        latest_class=int(series.evaluation.water_class[last]),
        verdicts={
            rule: v for rule in READING_RULES if (v := judge(configs[rule], series)) is not None
        },
        clear=frozenset(rule for rule in READING_RULES if is_clear(configs[rule], series)),
    )


def judge_sections(
    session: Session,
    section_ids: list[int],
    whole: set[int],
    section_of: dict[int, int],
    now: datetime,
    configs: dict[Rule, RuleConfig],
    *,
    read: Read,
    since: datetime,
) -> dict[int, list[StationVerdicts]]:
    """Per section, its stations' verdicts: judged afresh from the readings of the
    stations that changed (`section_of`: station → section), of every station of the
    sections in `whole` and of those whose stored verdicts are stale; stored for the rest.
    `read` is the evaluator's series reader (sections, now, configs, stations)."""
    if not section_ids:
        return {}
    basis = bases(session, section_ids, now, configs)
    stored = load(session, section_ids, since)
    whole = whole | {section for section, b, _ in stored if b != basis[section]}
    # Stations that changed in sections judged whole are read with their section.
    fresh_ids = {station for station, section in section_of.items() if section not in whole}
    out: dict[int, list[StationVerdicts]] = defaultdict(list)
    fresh: list[tuple[str, StationVerdicts]] = []
    for section_id, section_series in read(session, sorted(whole), now, configs, fresh_ids).items():
        for s in section_series:
            judged = of_series(s, configs)
            out[section_id].append(judged)
            fresh.append((basis.get(section_id) or "", judged))
    read_ids = {v.station_id for _, v in fresh}
    for section_id, _, kept in stored:
        if section_id not in whole and kept.station_id not in fresh_ids:
            out[section_id].append(kept)
    # Read and found empty (no live QC-good reading in the lookback): nothing to keep.
    emptied = [
        v.station_id
        for section, _, v in stored
        if section in whole and v.station_id not in read_ids
    ] + [station for station in fresh_ids if station not in read_ids]
    store(session, fresh, emptied)
    return out


def bases(
    session: Session, section_ids: Collection[int], now: datetime, configs: dict[Rule, RuleConfig]
) -> dict[int, str]:
    """Per section, what its stations' verdicts depend on besides their readings."""
    rules = tuple(
        (
            str(r),
            c.enabled,
            str(c.persistence),
            c.consecutive,
            c.window_s,
            c.clear_margin,
            c.clear_readings,
        )
        for r in READING_RULES
        if (c := configs[r])
    )
    year = now.astimezone(SHANGHAI).year
    targets = targets_in_force(session, section_ids, year)
    waterbody = dict(
        session.execute(
            select(Section.id, Section.waterbody).where(Section.id.in_(section_ids))
        ).all()
    )
    return {s: repr((rules, year, targets.get(s), waterbody.get(s))) for s in section_ids}


def load(
    session: Session, section_ids: Collection[int], since: datetime
) -> list[tuple[int, str, StationVerdicts]]:
    """(section, basis, verdicts) of the active stations of the sections, latest since `since`."""
    v = StationVerdict
    # Columns, not entities: a section may have hundreds of stations.
    rows = session.execute(
        select(
            Station.section_id,
            v.station_id,
            Station.code,
            v.basis,
            v.latest,
            v.latest_class,
            v.verdicts,
            v.clear,
        )
        .join(v, v.station_id == Station.id)
        .where(
            Station.section_id.in_(section_ids),
            Station.active,
            v.latest >= int(since.timestamp()),
        )
    ).all()
    return [
        (
            section_id,
            basis,
            StationVerdicts(
                station_id=station_id,
                station_code=code,
                latest=latest,
                latest_class=latest_class,
                verdicts={Rule(rule): _verdict(stored) for rule, stored in kept.items()},
                clear=frozenset(Rule(rule) for rule in clear),
            ),
        )
        for section_id, station_id, code, basis, latest, latest_class, kept, clear in rows
    ]


def store(
    session: Session,
    fresh: Iterable[tuple[str, StationVerdicts]],
    emptied: Collection[int],
) -> None:
    """Keep the fresh verdicts (with their section's basis); forget stations read empty."""
    values = [
        {
            "station_id": v.station_id,
            "basis": basis,
            "latest": v.latest,
            "latest_class": v.latest_class,
            "verdicts": {str(rule): _stored(verdict) for rule, verdict in v.verdicts.items()},
            "clear": sorted(str(rule) for rule in v.clear),
        }
        for basis, v in sorted(fresh, key=lambda item: item[1].station_id)
    ]
    if values:
        stmt = insert(StationVerdict)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[StationVerdict.station_id],
                set_={c: stmt.excluded[c] for c in KEPT},
            ),
            values,
        )
    if emptied:
        session.execute(delete(StationVerdict).where(StationVerdict.station_id.in_(emptied)))


def _stored(v: Verdict) -> dict[str, Any]:
    return {
        "severity": int(v.severity),
        "water_class": v.water_class,
        "time": v.time,
        "details": v.details,
    }


def _verdict(stored: dict[str, Any]) -> Verdict:
    return Verdict(
        Severity(stored["severity"]), stored["water_class"], stored["time"], stored["details"]
    )
