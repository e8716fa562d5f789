"""alerts.tracing on hand-made river data: a section (row 0) and three upstream stations
(rows 1–3, 1 the farthest upstream), hourly NH3-N."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from alerts.tracing import NONE, Movement, trace
from sensors.gb3838 import classify

HOUR = 3600
T0 = 1_780_000_000 - 1_780_000_000 % HOUR
HOURS = 24
LINE = 3  # the section's target: class III


def river(series: dict[int, npt.NDArray[np.float64]]) -> tuple[npt.NDArray[np.int64], ...]:
    rows = np.concatenate([np.full(v.size, r) for r, v in series.items()])
    times = np.concatenate([T0 + HOUR * np.arange(v.size) for v in series.values()])
    values = np.concatenate(list(series.values()))
    return rows, times, values, classify("nh3n", values, "river").astype(np.int64)


def calm(level: float = 0.4) -> npt.NDArray[np.float64]:
    return np.full(HOURS, level)


def stepped(at_hour: int, high: float, low: float = 0.4) -> npt.NDArray[np.float64]:
    v = calm(low)
    v[at_hour:] = high
    return v


def test_the_station_that_crossed_first_ranks_first_with_the_exact_lag() -> None:
    # A plume enters at station 2 (hour 10), passes station 3 (hour 12), reaches the
    # section (hour 15); station 1, upstream of the outfall, stays calm.
    section_at, first_at, second_at = 15, 10, 12
    rows, times, values, classes = river(
        {
            0: stepped(section_at, 1.6),
            1: calm(),
            2: stepped(first_at, 3.1),
            3: stepped(second_at, 2.2),
        }
    )
    decided = int(times[rows == 0][-1])
    result = trace(rows, times, values, classes, n_rows=4, line=LINE, sign=1, decided_at=decided)

    assert result.section_rise_at == T0 + section_at * HOUR
    assert result.rank.tolist() == [NONE, NONE, 1, 2]
    assert result.movement.tolist()[1:] == [Movement.NO_RISE, Movement.CROSSED, Movement.CROSSED]
    assert result.lag_s.tolist()[1:] == [
        NONE,
        (section_at - first_at) * HOUR,
        (section_at - second_at) * HOUR,
    ]
    # The supporting readings: the last calm one and the crossing one.
    assert values[result.before_index[2]] == 0.4
    assert values[result.moved_index[2]] == 3.1
    assert times[result.moved_index[2]] == T0 + first_at * HOUR
    assert values[result.section_rise_index] == 1.6


def test_shuffled_input_gives_the_same_trace() -> None:
    rows, times, values, classes = river({0: stepped(15, 1.6), 1: stepped(9, 2.5), 2: calm()})
    shuffle = np.random.default_rng(7).permutation(rows.size)
    args = (rows[shuffle], times[shuffle], values[shuffle], classes[shuffle])
    result = trace(*args, n_rows=3, line=LINE, sign=1, decided_at=T0 + 23 * HOUR)
    assert result.rank.tolist() == [NONE, 1, NONE]
    assert result.lag_s[1] == 6 * HOUR
    assert args[2][result.moved_index[1]] == 2.5


def test_a_rise_below_the_line_ranks_after_a_crossing_and_by_time() -> None:
    # Station 1 rises by 0.8 (the section rose by 1.2: 0.4 → 1.6) without crossing class
    # III, at hour 8; station 2 crosses later, at hour 11: the crossing ranks first.
    rows, times, values, classes = river(
        {0: stepped(15, 1.6), 1: stepped(8, 1.0, low=0.2), 2: stepped(11, 1.2), 3: calm()}
    )
    result = trace(
        rows, times, values, classes, n_rows=4, line=LINE, sign=1, decided_at=T0 + 23 * HOUR
    )
    assert result.movement.tolist()[1:] == [Movement.ROSE, Movement.CROSSED, Movement.NO_RISE]
    assert result.rank.tolist() == [NONE, 2, 1, NONE]
    assert result.lag_s[1] == 7 * HOUR


def test_no_upstream_rise_ranks_none() -> None:
    rows, times, values, classes = river({0: stepped(15, 1.6), 1: calm(), 2: calm(0.45), 3: calm()})
    result = trace(
        rows, times, values, classes, n_rows=4, line=LINE, sign=1, decided_at=T0 + 23 * HOUR
    )
    assert (result.rank == NONE).all()
    assert result.movement.tolist()[1:] == [Movement.NO_RISE] * 3
    assert (result.lag_s[1:] == NONE).all()


def test_moves_after_the_section_rose_do_not_count_and_missing_data_is_said() -> None:
    # Station 1 crosses two hours after the section; station 2 reported nothing; station 3
    # was above the line the whole time (a standing load, not this rise).
    rows, times, values, classes = river({0: stepped(15, 1.6), 1: stepped(17, 2.5), 3: calm(1.4)})
    result = trace(
        rows, times, values, classes, n_rows=4, line=LINE, sign=1, decided_at=T0 + 23 * HOUR
    )
    assert result.movement.tolist()[1:] == [
        Movement.NO_RISE,
        Movement.NO_DATA,
        Movement.ABOVE_THROUGHOUT,
    ]
    assert (result.rank == NONE).all()


def test_falling_oxygen_is_a_rise_of_the_bad_direction() -> None:
    do = {0: stepped(15, 2.5, low=7.0), 1: stepped(6, 4.0, low=7.0), 2: np.full(HOURS, 7.0)}
    rows = np.concatenate([np.full(v.size, r) for r, v in do.items()])
    times = np.concatenate([T0 + HOUR * np.arange(v.size) for v in do.values()])
    values = np.concatenate(list(do.values()))
    classes = classify("do", values, "river").astype(np.int64)
    result = trace(
        rows, times, values, classes, n_rows=3, line=LINE, sign=-1, decided_at=T0 + 23 * HOUR
    )
    assert result.movement[1] == Movement.CROSSED
    assert result.lag_s[1] == 9 * HOUR
    assert result.rank.tolist() == [NONE, 1, NONE]
