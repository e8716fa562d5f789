"""The ingest's sensors steps (QC, each value's class, the section per time) against the
steps before issue 16 (tests/reference/service.py), on random batches: the same flags,
classes and evaluations, bit for bit. No database: the steps are pure."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ingest import service, stations
from sensors.parameters import PARAMETERS
from sensors.qc import QCFlag, Readings
from sensors.qc_thresholds import resolve_thresholds
from sensors.validation import EPOCH
from tests.reference import service as previous
from tests.sensors.test_fast_paths import overflow_is_a_value, same_evaluation, value

IDS = [p.id for p in PARAMETERS]
# Around new year in Shanghai: a batch may span two years, so two targets.
NEW_YEAR = datetime(2025, 12, 31, 16, tzinfo=UTC)


@st.composite
def batches(draw: st.DrawFn) -> tuple[stations.StationRef, stations.Confirmed, dict[str, Any]]:
    overrides = draw(st.sampled_from([{}, {"nh3n": {"spike_suspect": 0.1, "rate_per_hour": 0.1}}]))
    thresholds = {p.id: resolve_thresholds(p.code, overrides.get(p.code)) for p in PARAMETERS}
    ref = stations.StationRef(
        id=1,
        code="T1",
        section_id=1,
        waterbody=draw(st.sampled_from(["river", "lake"])),
        key_hash="",
        version="v",
        thresholds=MappingProxyType(thresholds),
    )
    years = draw(st.lists(st.integers(2024, 2027), unique=True, max_size=3).map(sorted))
    targets = tuple((y, draw(st.integers(1, 5))) for y in years)
    minutes = draw(st.lists(st.integers(-120, 120), min_size=1, max_size=6, unique=True))
    rows: list[tuple[int, int, float, str, bool]] = []
    for minute in minutes:
        items = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=len(IDS), unique=True))
        t = (NEW_YEAR + timedelta(minutes=minute) - EPOCH) // timedelta(microseconds=1)
        for pid in items:
            rows.append(
                (t, pid, draw(value()), draw(st.sampled_from("NNNNST")), draw(st.booleans()))
            )
    order = draw(st.permutations(range(len(rows))))
    time_us, pid, v, flag, below = zip(*(rows[i] for i in order), strict=True)
    cols = {
        "time_us": np.array(time_us, dtype=np.int64),
        "parameter_id": np.array(pid, dtype=np.int16),
        "value": np.array(v, dtype=np.float64),
        "data_flag": np.array(flag, dtype="U1"),
        "below_detection": np.array(below, dtype=bool),
    }
    return ref, stations.Confirmed("v", targets), cols


def context(cols: dict[str, Any], draw: st.DrawFn) -> Readings | None:
    pids = np.unique(cols["parameter_id"])
    first = int(cols["time_us"].min()) // 1_000_000
    hours = draw(st.integers(0, 30))
    if not hours:
        return None
    t = first - 3600 * np.arange(hours, 0, -1)
    values = draw(st.lists(st.sampled_from([0.5, 0.5, 0.6, 3.0, math.nan]), min_size=hours))
    v = np.resize(np.array(values), hours * pids.size)
    return Readings(np.tile(t, pids.size), v, np.repeat(pids, hours), np.full(v.size, "N"))


@overflow_is_a_value
@settings(max_examples=300, deadline=None)
@given(batches(), st.data())
def test_the_steps_equal_the_previous_steps(
    batch: tuple[stations.StationRef, stations.Confirmed, dict[str, Any]], data: st.DataObject
) -> None:
    ref, confirmed, cols = batch
    around = context(cols, data.draw)
    flags = service.run_qc(ref, cols, around)
    np.testing.assert_array_equal(flags, previous.run_qc(ref, cols, around))
    classes = service.classify_values(cols, ref.waterbody)
    want = previous.classify_values(cols, ref.waterbody)
    assert (classes.dtype, classes.tolist()) == (want.dtype, want.tolist())
    good = flags == QCFlag.GOOD
    times, at, evaluation, targets = service.evaluate_times(ref, confirmed, cols, good)
    want_times, want_at, want_evaluation, want_targets = previous.evaluate_times(
        ref, confirmed, cols, good
    )
    assert times.tolist() == want_times.tolist()
    assert at.tolist() == want_at.tolist()
    assert targets == want_targets
    same_evaluation(evaluation, want_evaluation)
