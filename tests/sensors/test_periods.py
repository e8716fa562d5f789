"""Period means in Asia/Shanghai time, below-detection values, period classes, shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.periods import (
    ClassShares,
    class_shares,
    evaluate_periods,
    period_means,
    period_start,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(*stamps: str) -> np.ndarray:
    return np.array(stamps, dtype="datetime64[ns]")


def days(*dates: str) -> list[np.datetime64]:
    return [np.datetime64(d, "D") for d in dates]


# ---- period starts ------------------------------------------------------------------------
def test_month_boundary_is_shanghai_midnight() -> None:
    # 2021-01-31T16:30Z is 2021-02-01 00:30 in Shanghai: February.
    stamps = utc("2021-01-31T15:59:59", "2021-01-31T16:00", "2021-01-31T16:30")
    starts = period_start(stamps, "month")
    assert starts.tolist() == [d.item() for d in days("2021-01-01", "2021-02-01", "2021-02-01")]


@pytest.mark.parametrize(
    ("stamp", "period", "expected"),
    [
        ("2021-03-31T15:59", "quarter", "2021-01-01"),
        ("2021-03-31T16:00", "quarter", "2021-04-01"),
        ("2021-12-31T15:59", "quarter", "2021-10-01"),
        ("2021-12-31T16:00", "year", "2022-01-01"),
        ("2021-12-31T15:59", "year", "2021-01-01"),
        ("2021-02-28T16:00", "month", "2021-03-01"),
        ("2024-02-28T16:00", "month", "2024-02-01"),  # leap year: still 29 February locally
        # 2021-03-07 is a Sunday; 16:00Z on it is Monday 00:00 in Shanghai.
        ("2021-03-07T15:59", "week", "2021-03-01"),
        ("2021-03-07T16:00", "week", "2021-03-08"),
        ("1969-12-31T15:00", "quarter", "1969-10-01"),
    ],
)
def test_period_starts(stamp: str, period: str, expected: str) -> None:
    assert period_start(utc(stamp), period).tolist() == [np.datetime64(expected).item()]  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1992, 1, 1), max_value=datetime(2060, 1, 1)),
    period=st.sampled_from(["week", "month", "quarter", "year"]),
)
def test_period_start_agrees_with_zoneinfo(moment: datetime, period: str) -> None:
    local = moment.replace(tzinfo=UTC).astimezone(SHANGHAI).date()
    if period == "week":
        expected = local - timedelta(days=local.weekday())
    elif period == "month":
        expected = local.replace(day=1)
    elif period == "quarter":
        expected = local.replace(month=(local.month - 1) // 3 * 3 + 1, day=1)
    else:
        expected = local.replace(month=1, day=1)
    stamp = np.array([moment], dtype="datetime64[ns]")
    assert period_start(stamp, period).tolist() == [expected]  # type: ignore[arg-type]


def test_nat_and_bad_inputs() -> None:
    assert np.isnat(period_start(np.array(["NaT"], dtype="datetime64[ns]"), "month")).all()
    with pytest.raises(ValueError, match="period"):
        period_start(utc("2021-01-01"), "day")  # type: ignore[arg-type]
    aware = np.array([datetime(2021, 1, 1, tzinfo=UTC)], dtype=object)
    with pytest.raises(TypeError, match="datetime64"):
        period_start(aware, "month")


# ---- means ------------------------------------------------------------------------------
def test_monthly_means_across_a_shanghai_month_boundary() -> None:
    means = period_means(
        utc("2021-01-31T12:00", "2021-01-31T16:30", "2021-02-01T04:00", "2021-01-15T00:00"),
        ["S1", "S1", "S1", "S1"],
        "nh3n",
        [1.0, 2.0, 4.0, 3.0],
    )
    assert means.section.tolist() == ["S1", "S1"]
    assert means.period_start.tolist() == [d.item() for d in days("2021-01-01", "2021-02-01")]
    assert means.means["nh3n"].tolist() == [2.0, 3.0]
    assert means.counts["nh3n"].tolist() == [2, 2]


def test_below_detection_counts_half_and_nan_is_skipped() -> None:
    means = period_means(
        utc("2021-05-01T00:00", "2021-05-02T00:00", "2021-05-03T00:00", "2021-05-04T00:00"),
        [7, 7, 7, 7],
        ["tp", "tp", "tp", "nh3n"],
        [0.1, 0.01, np.nan, 0.02],
        below_detection=[False, True, False, True],
    )
    # TP: (0.1 + 0.01/2) / 2; the NaN is not counted. NH3-N: 0.02/2.
    assert means.means["tp"].tolist() == pytest.approx([0.0525])
    assert means.counts["tp"].tolist() == [2]
    assert means.means["nh3n"].tolist() == pytest.approx([0.01])
    assert means.counts["nh3n"].tolist() == [1]


def test_means_are_free_of_binary_noise() -> None:
    # As floats, (24.9 + 5 × 13.02)/6 is 14.999999999999998 and (0.1 + 0.2)/2 is
    # 0.15000000000000002; the decimal means are 15 and 0.15, both limits of class I.
    t = utc(*[f"2021-03-0{i}" for i in range(1, 7)], "2021-03-01", "2021-03-02")
    means = period_means(t, ["S"] * 8, ["cod"] * 6 + ["nh3n"] * 2, [24.9, *[13.02] * 5, 0.1, 0.2])
    assert means.means["cod"].tolist() == [15.0]
    assert means.means["nh3n"].tolist() == [0.15]
    evaluated = evaluate_periods(means, precisions={"nh3n": None})
    assert evaluated.evaluation.classes["cod"].tolist() == [1]
    assert evaluated.evaluation.classes["nh3n"].tolist() == [1]


def test_means_per_section_and_item_with_gaps() -> None:
    means = period_means(
        utc("2021-01-10", "2021-01-11", "2021-02-10", "2021-01-10"),
        ["B", "B", "B", "A"],
        ["tp", "tp", "nh3n", "nh3n"],
        [0.1, 0.3, 1.0, 0.5],
        period="month",
    )
    assert means.section.tolist() == ["A", "B", "B"]
    assert means.period_start.tolist() == [
        d.item() for d in days("2021-01-01", "2021-01-01", "2021-02-01")
    ]
    np.testing.assert_allclose(means.means["tp"], [np.nan, 0.2, np.nan])
    np.testing.assert_allclose(means.means["nh3n"], [0.5, np.nan, 1.0])
    assert means.counts["tp"].tolist() == [0, 2, 0]


def test_empty_readings() -> None:
    means = period_means(utc(), np.array([], dtype=str), np.array([], dtype=str), [])
    assert len(means) == 0
    evaluated = evaluate_periods(means)
    assert evaluated.water_class.tolist() == []
    assert class_shares(evaluated).counts.shape == (0, 7)


def test_unknown_code_and_length_mismatch() -> None:
    with pytest.raises(KeyError, match="unknown parameter"):
        period_means(utc("2021-01-01"), ["S"], ["zinc"], [1.0])
    with pytest.raises(ValueError, match="lengths"):
        period_means(utc("2021-01-01", "2021-01-02"), ["S"], "tp", [1.0, 2.0])


# ---- period classes ---------------------------------------------------------------------
def test_period_class_is_single_factor_on_the_means() -> None:
    # Each NH3-N reading is class III or V; the month's mean, 1.2, is class IV. TP's mean is
    # 0.03 (lake: III). Lake S2 has only TN, which is not evaluated: no class.
    means = period_means(
        utc(
            "2021-06-01", "2021-06-02", "2021-06-03", "2021-06-04",
            "2021-06-05", "2021-06-06",
        ),
        ["S1", "S1", "S1", "S1", "S2", "S2"],
        ["nh3n", "nh3n", "tp", "tp", "tn", "tn"],
        [0.4, 2.0, 0.02, 0.04, 0.4, 0.6],
    )  # fmt: skip
    evaluated = evaluate_periods(means, waterbody={"S1": "lake", "S2": "lake"}, targets={"S1": 3})
    ev = evaluated.evaluation
    assert evaluated.water_class.tolist() == [4, 0]
    assert ev.classes["tp"].tolist() == [3, 0]
    assert ev.classes["tn"].tolist() == [0, 2]  # mean 0.5, lake II; reported, not evaluated
    assert ev.met is not None
    assert ev.met.tolist() == [False, False]
    assert ev.main_pollutant_codes(0) == ("nh3n",)


def test_period_class_for_rivers_by_default() -> None:
    means = period_means(utc("2021-06-01", "2021-06-02"), ["S", "S"], "tp", [0.02, 0.04])
    assert evaluate_periods(means).water_class.tolist() == [2]  # river TP 0.03: II
    assert evaluate_periods(means, waterbody="lake").water_class.tolist() == [3]


# ---- shares of a set of sections --------------------------------------------------------
def _yearly(classes: dict[str, int], year: str = "2021") -> ClassShares:
    """Shares of sections whose yearly NH3-N mean is chosen to land in the given class."""
    value = {1: 0.1, 2: 0.3, 3: 0.8, 4: 1.2, 5: 1.8, 6: 3.0}
    means = period_means(
        np.array([f"{year}-07-01"] * len(classes), dtype="datetime64[ns]"),
        list(classes),
        "nh3n",
        [value[c] for c in classes.values()],
        period="year",
    )
    evaluated = evaluate_periods(means)
    by_section = dict(zip(means.section.tolist(), evaluated.water_class.tolist(), strict=True))
    assert by_section == classes
    return class_shares(evaluated)


def test_shares_in_i_iii_v_and_worse() -> None:
    shares = _yearly({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 3, "h": 3})
    assert shares.period_start.tolist() == [d.item() for d in days("2021-01-01")]
    assert shares.classed.tolist() == [8]
    assert shares.share_i_iii.tolist() == [5 / 8]
    assert shares.share_v.tolist() == [1 / 8]
    assert shares.share_worse_than_v.tolist() == [1 / 8]
    assert shares.action_plan_met(PLAN_GOALS) == [False]
    assert shares.grades() == ["轻度污染"]


def test_shares_over_a_subset_of_sections() -> None:
    means = period_means(
        utc("2021-01-05", "2021-01-05", "2021-01-05", "2021-02-05"),
        ["prov1", "prov2", "county", "prov1"],
        "nh3n",
        [0.1, 3.0, 3.0, 0.8],
    )
    shares = class_shares(evaluate_periods(means), sections={"prov1", "prov2"})
    assert shares.period_start.tolist() == [d.item() for d in days("2021-01-01", "2021-02-01")]
    assert shares.counts[:, 1:].tolist() == [[1, 0, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0]]
    assert shares.share_worse_than_v.tolist() == [0.5, 0.0]


# The plan's goals for the I–III share: 2021 ≥ 90 %, 2022 ≥ 93 % (力争), 2023 ≥ 93 %.
PLAN_GOALS = {2021: Fraction(90, 100), 2022: Fraction(93, 100), 2023: Fraction(93, 100)}


def test_action_plan_goals() -> None:
    nine_of_ten = {f"s{i}": 3 for i in range(9)} | {"s9": 4}
    assert _yearly(nine_of_ten, "2021").action_plan_met(PLAN_GOALS) == [True]
    assert _yearly(nine_of_ten, "2022").action_plan_met(PLAN_GOALS) == [False]
    # Without the stretch goal, 2022 is judged on no goal at all.
    assert _yearly(nine_of_ten, "2022").action_plan_met({2021: Fraction(9, 10)}) == [None]
    assert _yearly(nine_of_ten, "2024").action_plan_met(PLAN_GOALS) == [None]
    with_v = {f"s{i}": 2 for i in range(19)} | {"s19": 5}
    assert _yearly(with_v, "2021").action_plan_met(PLAN_GOALS) == [False]


@pytest.mark.parametrize(
    ("classes", "grade"),
    [
        ([3] * 9 + [4], "优"),  # exactly 90 %
        ([3] * 3 + [4] * 1, None),  # fewer than five sections
        ([3] * 3 + [4], None),
        ([3] * 15 + [4] * 5, "良好"),  # exactly 75 %
        ([3] * 14 + [4] * 2 + [6] * 3, "轻度污染"),  # 劣Ⅴ 3/19 < 20 %
        ([3] * 14 + [4] * 1 + [6] * 5, "中度污染"),  # 劣Ⅴ exactly 20 %
        ([3] * 6 + [6] * 4, "重度污染"),  # 劣Ⅴ exactly 40 %
    ],
)
def test_basin_grades(classes: list[int], grade: str | None) -> None:
    shares = _yearly({f"s{i}": c for i, c in enumerate(classes)})
    assert shares.grades() == [grade]
