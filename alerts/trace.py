"""An incident's upstream trace: which of the stations the bureau entered as upstream of
the section moved first, per offending item, with the readings that show it.

Computed once, when the incident opens, and stored with it: the record is the evidence as
it stood when people were told (the webhook quotes the same), and readings revised or
arriving later do not rewrite it. It names candidates in the order the data give them;
it never names a source the topology does not hold, and says so when it holds none.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
from sqlalchemy.orm import Session

from alerts import trace_queries as queries
from alerts import tracing
from alerts.models import Incident
from alerts.tracing import Movement
from alerts.vocabulary import Rule
from sensors.parameters import BY_CODE, Direction

TRACED_RULES: Final = frozenset({Rule.CLASS_V, Rule.TARGET_MISS})
LOOKBACK: Final = timedelta(hours=24)  # before the deciding reading, plus the longest travel
CLASS_V_LINE: Final = 4  # without a target, the class-V rule's own line: worse than IV
MOVEMENTS: Final = {
    Movement.NO_DATA: "no_data",
    Movement.NO_RISE: "no_rise",
    Movement.ABOVE_THROUGHOUT: "above_throughout",
    Movement.ROSE: "rose",
    Movement.CROSSED: "crossed",
}
SIGN: Final = {Direction.AT_MOST: 1, Direction.AT_LEAST: -1}

log = logging.getLogger(__name__)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def for_incident(session: Session, incident: Incident) -> dict[str, Any] | None:
    """The trace of a newly opened incident; None for rules that are not about water.

    The alert matters more than its trace: a trace that fails is logged and recorded as
    failed, in a savepoint, and the incident opens and is told as it would without it."""
    d = incident.details
    if incident.rule not in TRACED_RULES or incident.section_id is None or "time" not in d:
        return None
    try:
        with session.begin_nested():
            return _trace(session, incident.section_id, d)
    except Exception:
        log.exception("upstream trace failed", extra={"incident_id": incident.id})
        return {"status": "failed", "summary": "the upstream trace failed", "items": []}


def _trace(session: Session, section_id: int, d: dict[str, Any]) -> dict[str, Any]:
    links = queries.upstream(session, section_id)
    if not links:
        return {
            "status": "no_upstream",
            "summary": "no upstream station is entered for this section: nothing to trace",
            "items": [],
        }
    line = int(d.get("target") or CLASS_V_LINE)
    indicator = d.get("indicator")
    given = d.get("items") or {}
    offending = [c for c, i in given.items() if isinstance(i, dict) and i.get("class", 0) > line]
    codes = sorted(offending, key=lambda c: c != indicator) or ([indicator] if indicator else [])
    codes = [c for c in codes if c in BY_CODE]
    own = queries.station_id(session, str(d.get("station", "")))
    links = [link for link in links if link.station_id != own]
    decided = int(d["time"])
    end = datetime.fromtimestamp(decided, UTC)
    longest = max((link.travel_time_min or 0 for link in links), default=0)
    start = end - LOOKBACK - timedelta(minutes=longest)
    ids = ([own] if own is not None else []) + [link.station_id for link in links]
    data = queries.readings(session, ids, [BY_CODE[c].id for c in codes], start, end)
    items = [
        _item(code, data, own, links, line=line, decided=decided, section_station=d["station"])
        for code in codes
    ]
    return {
        "status": _status(items),
        "summary": _summary(items),
        "line_class": line,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "items": items,
    }


def _item(
    code: str,
    data: queries.Readings,
    own: int | None,
    links: list[queries.Link],
    *,
    line: int,
    decided: int,
    section_station: str,
) -> dict[str, Any]:
    # Row 0 the section's station, rows 1… the upstream ones in order along the river.
    row_ids = np.array([own if own is not None else -1] + [k.station_id for k in links])
    mine = data.parameter_id == BY_CODE[code].id
    station = data.station_id[mine]
    row = np.searchsorted(np.sort(row_ids), station)
    row = np.argsort(row_ids)[row]
    result = tracing.trace(
        row,
        data.time[mine],
        data.value[mine],
        data.water_class[mine],
        n_rows=len(row_ids),
        line=line,
        sign=SIGN.get(BY_CODE[code].direction, 0),
        decided_at=decided,
    )
    time, value, klass = data.time[mine], data.value[mine], data.water_class[mine]

    def reading(i: int) -> dict[str, Any]:
        return {"time": _iso(int(time[i])), "value": float(value[i]), "class": int(klass[i])}

    def readings(*indices: int) -> list[dict[str, Any]]:
        unique = sorted({i for i in indices if i >= 0}, key=lambda i: int(time[i]))
        return [reading(i) for i in unique]

    upstream = []
    for k, link in enumerate(links, start=1):
        moved = int(result.moved_at[k])
        lag = int(result.lag_s[k])
        upstream.append(
            {
                "rank": int(result.rank[k]) if result.rank[k] > 0 else None,
                "station": link.code,
                "name": link.name,
                "order": link.position,
                "travel_time_min": link.travel_time_min,
                "movement": MOVEMENTS[Movement(int(result.movement[k]))],
                "moved_at": _iso(moved) if moved >= 0 else None,
                "lag_s": lag if moved >= 0 else None,
                "readings": readings(
                    int(result.before_index[k]),
                    int(result.moved_index[k]),
                    int(result.peak_index[k]),
                ),
            }
        )
    upstream.sort(key=lambda u: (u["rank"] is None, u["rank"] or 0, u["order"]))
    return {
        "item": code,
        "section": {
            "station": section_station,
            "rose_at": _iso(result.section_rise_at),
            "readings": readings(result.section_before_index, result.section_rise_index),
        },
        "upstream": upstream,
    }


def _status(items: list[dict[str, Any]]) -> str:
    ups = [u for item in items for u in item["upstream"]]
    if any(u["rank"] is not None for u in ups):
        return "traced"
    if all(u["movement"] == "no_data" for u in ups):
        return "no_data"
    return "no_rise"


def _summary(items: list[dict[str, Any]]) -> str:
    status = _status(items)
    if status == "no_data":
        return "no upstream station has readings of these items before the rise"
    if status == "no_rise":
        return "no upstream station crossed the line or rose before the section: no source traced"
    item = next(i for i in items if i["upstream"] and i["upstream"][0]["rank"] is not None)
    first = item["upstream"][0]
    travel = first["travel_time_min"]
    expected = f"; typical travel time {travel} min" if travel is not None else ""
    return (
        f"{item['item']}: {first['station']} ({first['name']}) {first['movement']} "
        f"{first['lag_s'] // 60} min before the section{expected} (first candidate, not proof)"
    )


def brief(trace: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a webhook carries: the verdict and the ranked candidates of the first item."""
    if trace is None:
        return None
    items = trace.get("items") or []
    ranked = [u for u in items[0]["upstream"] if u["rank"] is not None] if items else []
    return {
        "status": trace["status"],
        "summary": trace["summary"],
        "item": items[0]["item"] if items else None,
        "candidates": [
            {k: u[k] for k in ("rank", "station", "movement", "moved_at", "lag_s")}
            for u in ranked[:3]
        ],
    }
