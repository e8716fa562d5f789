"""The merge and the QC context at the database: counts and the revision audit (the
readings_update trigger, 0014), the context equal to its definition whatever the data
around a batch, and both statements planned once per connection, not per post."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.ingest import context, service, store
from app.ingest import stations as refs
from app.ingest.validate import parse_items
from app.stations import service as stations
from core.models import Station
from sensors.parameters import BY_CODE
from sensors.qc_thresholds import required_context_seconds
from sensors.validation import EPOCH

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DO, NH3N, TP = BY_CODE["do"].id, BY_CODE["nh3n"].id, BY_CODE["tp"].id


@pytest.fixture
def station(seeded: Session) -> Station:
    added, _ = stations.add_station(seeded, code="ST-STORE", section_code="S07", name="store")
    seeded.commit()
    return added


def columns(station: Station, rows: list[tuple[int, datetime, float, str]]) -> dict[str, Any]:
    """The merge's columns of (parameter, time, value, data flag) rows, QC good, class 2."""
    n = len(rows)
    return {
        "station_id": np.full(n, station.id, dtype=np.int32),
        "parameter_id": np.array([r[0] for r in rows], dtype=np.int16),
        "time_us": np.array([(r[1] - EPOCH) // timedelta(microseconds=1) for r in rows]),
        "kind": np.zeros(n, dtype=np.int16),
        "value": np.array([r[2] for r in rows], dtype=np.float64),
        "data_flag": np.array([r[3].encode() for r in rows], dtype="S1"),
        "below_detection": np.zeros(n, dtype=bool),
        "qc_flag": np.ones(n, dtype=np.int16),
        "water_class": np.full(n, 2, dtype=np.int16),
        "backfill": np.zeros(n, dtype=bool),
    }


def revisions(session: Session) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in session.execute(
            text(
                "SELECT parameter_id, time, value, data_flag, qc_flag FROM reading_revisions"
                " ORDER BY time, parameter_id"
            )
        )
    ]


@pytest.mark.parametrize("n", [6, store.ARRAY_ROWS + 4], ids=["arrays", "staging"])
def test_the_merge_counts_new_duplicate_and_revised_rows_and_audits_the_old_values(
    seeded: Session, station: Station, n: int
) -> None:
    times = [NOW - timedelta(hours=400) + timedelta(minutes=i) for i in range(n)]
    rows = [(NH3N, t, 0.5, "N") for t in times]
    assert store.merge(seeded, columns(station, rows)) == store.MergeCounts(n, 0, 0)
    again = [*rows[:-2], (NH3N, times[-2], 0.7, "N"), (NH3N, times[-1], 0.5, "M")]
    again.append((TP, times[0], 0.1, "N"))
    assert store.merge(seeded, columns(station, again)) == store.MergeCounts(1, 2, n - 2)
    assert revisions(seeded) == [(NH3N, times[-2], 0.5, "N", 1), (NH3N, times[-1], 0.5, "N", 1)]


def test_an_update_of_a_value_is_audited_and_one_of_its_qc_flag_is_not(
    seeded: Session, station: Station
) -> None:
    t = NOW - timedelta(hours=5)
    store.merge(seeded, columns(station, [(NH3N, t, 0.5, "N"), (TP, t, 0.1, "N")]))
    seeded.execute(text("UPDATE readings SET qc_flag = 3 WHERE station_id = :s"), {"s": station.id})
    assert revisions(seeded) == []
    seeded.execute(
        text("UPDATE readings SET value = 0.6 WHERE station_id = :s AND parameter_id = :p"),
        {"s": station.id, "p": NH3N},
    )
    assert revisions(seeded) == [(NH3N, t, 0.5, "N", 3)]


def defined_context(
    session: Session, station: Station, ref: refs.StationRef, span: tuple[datetime, datetime]
) -> set[tuple[int, int, float, str]]:
    """The context by its definition: per series, its stored instant readings within its
    own reach, at most CONTEXT_ROWS of them before the span and after it."""
    first, last = span
    out = set()
    for p in (DO, NH3N, TP):
        reach = timedelta(seconds=required_context_seconds(ref.thresholds[p]))
        rows = session.execute(
            text(
                "SELECT time, value, data_flag FROM readings WHERE station_id = :s"
                " AND parameter_id = :p AND kind = 0 AND time BETWEEN :a AND :b ORDER BY time"
            ),
            {"s": station.id, "p": p, "a": first - reach, "b": last + reach},
        ).all()
        before = [r for r in rows if r.time < first][-context.CONTEXT_ROWS :]
        after = [r for r in rows if r.time > last][: context.CONTEXT_ROWS]
        within = [r for r in rows if first <= r.time <= last]
        out |= {(p, int(r.time.timestamp()), r.value, r.data_flag) for r in before + within + after}
    return out


def got_context(readings: Any) -> set[tuple[int, int, float, str]]:
    assert readings is not None
    parts = (readings.series, readings.times, readings.values, readings.data_flags)
    return {
        (int(p), int(t), float(v), str(f))
        for p, t, v, f in zip(*(np.asarray(c).tolist() for c in parts), strict=True)
    }


def test_the_context_is_each_series_reach_and_row_limits_around_the_batch(
    seeded: Session, station: Station
) -> None:
    # DO without the flat-line test: it reaches back 12 h, the others 84 h.
    stations.set_qc_overrides(
        seeded, station.code, "do", {"flat_suspect_seconds": None, "flat_fail_seconds": None}
    )
    seeded.commit()
    t = NOW - timedelta(hours=100)
    hourly = [t + timedelta(hours=h) for h in range(-100, 10)]
    # Past CONTEXT_ROWS, and none at t: a batch at t reads one more before it and drops it.
    dense = [t + timedelta(minutes=10 * k) for k in range(-600, 60) if k]
    rows = [(NH3N, x, 0.5 + (x.hour % 3) / 10, "N") for x in hourly if x != t]
    rows += [(DO, x, 6.0, "M" if x.hour == 1 else "N") for x in hourly]
    rows += [(TP, x, 0.1 + (x.minute % 4) / 100, "N") for x in dense]
    store.merge(seeded, columns(station, rows))
    # Not context: another kind, another station.
    seeded.execute(
        text(
            "INSERT INTO readings (station_id, parameter_id, time, kind, value)"
            " SELECT :s, :p, :t - h * interval '1 hour', 1, 9.9 FROM generate_series(1, 5) h"
        ),
        {"s": station.id, "p": NH3N, "t": t},
    )
    other, _ = stations.add_station(seeded, code="ST-OTHER", section_code="S07", name="other")
    store.merge(seeded, columns(other, [(NH3N, t - timedelta(hours=1), 9.9, "N")]))
    ref = refs.by_id(seeded, station.id)
    for span in ((t, t), (t - timedelta(hours=3), t + timedelta(minutes=30))):
        stamps = [span[0], span[1]] if span[0] != span[1] else [span[0]]
        batch = columns(station, [(p, x, 1.0, "N") for p in (DO, NH3N, TP) for x in stamps])
        _, around = context.check_and_context(seeded, ref, batch, by_key=False)
        assert got_context(around) == defined_context(seeded, station, ref, span), span


def test_the_merge_and_the_context_are_planned_once_per_connection(
    seeded: Session, station: Station
) -> None:
    ref = refs.by_id(seeded, station.id)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    for k in range(12):
        at = (start + timedelta(minutes=k)).isoformat()
        parsed = parse_items([{"time": at, "values": {"nh3n": 0.5, "tp": 0.1}}], now=NOW)
        assert service.ingest(seeded, ref, parsed).accepted == 2
    plans = {
        statement.split()[0]: (generic, custom)
        for statement, generic, custom in seeded.execute(
            text(
                "SELECT ltrim(statement), generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE '%readings%' AND statement NOT LIKE '%md5%'"
            )
        )
    }
    # WITH: the merge; SELECT: the context. Both run on generic plans after the server's
    # first few custom ones.
    assert set(plans) == {"WITH", "SELECT"}, plans
    assert all(generic > 0 and custom <= 5 for generic, custom in plans.values()), plans


def test_a_chunk_made_after_the_context_was_planned_is_read(
    seeded: Session, station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A week boundary (TimescaleDB's 7-day chunks start at multiples of 7 days since the
    # Unix epoch) long enough ago that no chunk after it exists yet; posts that old are
    # prepared too here.
    monkeypatch.setattr(context, "PREPARED_DAYS", 10_000)
    boundary = EPOCH + timedelta(days=7 * ((NOW - EPOCH).days // 7 - 60))
    t = boundary - timedelta(hours=1)
    store.merge(seeded, columns(station, [(NH3N, t - timedelta(hours=1), 0.5, "N")]))
    ref = refs.by_id(seeded, station.id)
    batch = columns(station, [(NH3N, t, 0.6, "N")])
    for _ in range(3):  # the generic plan, made while the next chunk does not exist
        _, around = context.check_and_context(seeded, ref, batch, by_key=False)
        assert got_context(around) == {(NH3N, int((t - timedelta(hours=1)).timestamp()), 0.5, "N")}
    chunks = text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings'::regclass")
    before = seeded.scalar(chunks)
    later = t + timedelta(hours=2)
    store.merge(seeded, columns(station, [(NH3N, later, 0.7, "N")]))
    assert seeded.scalar(chunks) == (before + 1 if before else 0)  # a new chunk, if any
    _, around = context.check_and_context(seeded, ref, batch, by_key=False)
    assert (NH3N, int(later.timestamp()), 0.7, "N") in got_context(around)
    generic = text(
        "SELECT generic_plans FROM pg_prepared_statements WHERE statement LIKE '%string_agg%'"
    )
    assert seeded.scalar(generic) == 4
