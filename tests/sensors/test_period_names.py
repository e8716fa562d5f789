"""Period names: every form, Beijing-time bounds, previous periods, bad names refused."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.period_names import PeriodError, months_of, parse


@pytest.mark.parametrize(
    ("name", "kind", "start", "end"),
    [
        ("2026-W05", "week", date(2026, 1, 26), date(2026, 2, 2)),
        ("2026-W01", "week", date(2025, 12, 29), date(2026, 1, 5)),
        ("2026-03", "month", date(2026, 3, 1), date(2026, 4, 1)),
        ("2026-12", "month", date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-Q1", "quarter", date(2026, 1, 1), date(2026, 4, 1)),
        ("2026-q4", "quarter", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026", "year", date(2026, 1, 1), date(2027, 1, 1)),
        ("2026-01-05..2026-02-10", "range", date(2026, 1, 5), date(2026, 2, 11)),
    ],
)
def test_forms(name: str, kind: str, start: date, end: date) -> None:
    p = parse(name)
    assert (p.kind, p.start, p.end) == (kind, start, end)


def test_bounds_are_beijing_midnights() -> None:
    p = parse("2026-03")
    assert p.start_utc == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert p.end_utc == datetime(2026, 3, 31, 16, tzinfo=UTC)


def test_ytd_runs_to_today_inclusive() -> None:
    p = parse("ytd", today=date(2026, 5, 17))
    assert (p.start, p.end, p.year) == (date(2026, 1, 1), date(2026, 5, 18), 2026)
    prev = p.previous()
    assert (prev.start, prev.end) == (date(2025, 1, 1), date(2025, 5, 18))


@pytest.mark.parametrize(
    ("name", "previous"),
    [
        ("2026-W01", "2025-W52"),
        ("2026-01", "2025-12"),
        ("2026-Q1", "2025-Q4"),
        ("2026-Q3", "2026-Q2"),
        ("2026", "2025"),
        ("2026-01-11..2026-01-20", "2026-01-01..2026-01-10"),
    ],
)
def test_previous(name: str, previous: str) -> None:
    assert parse(name).previous().name == previous


def test_months_of_cuts_to_the_period() -> None:
    names = [m.name for m in months_of(parse("2026-01-20..2026-03-05"))]
    assert names == ["2026-01-20..2026-01-31", "2026-02", "2026-03-01..2026-03-05"]
    assert [m.name for m in months_of(parse("2026-Q2"))] == ["2026-04", "2026-05", "2026-06"]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2026-13",
        "2026-Q5",
        "2026-W54",
        "2026-02-30..2026-03-01",
        "2026-03-02..2026-03-01",
        "26",
        "2026-1",
        "last week",
        "2020-01-01..2039-01-01",
        "0000",
    ],
)
def test_bad_names_refused(bad: str) -> None:
    with pytest.raises(PeriodError):
        parse(bad)


@pytest.mark.parametrize(
    "edge", ["9999-12", "9999", "9999-Q4", "9999-W52", "9999-12-31..9999-12-31", "0001", "1900-12"]
)
def test_years_out_of_range_are_refused_not_crashed(edge: str) -> None:
    with pytest.raises(PeriodError):
        parse(edge)


@given(st.text(max_size=30))
def test_any_text_parses_or_is_refused(text: str) -> None:
    try:
        p = parse(text, today=date(2026, 5, 1))
    except PeriodError:
        return
    assert p.start < p.end
    assert p.start_utc < p.end_utc
    with contextlib.suppress(PeriodError):  # the first year has none before it
        assert p.previous().end <= p.end
