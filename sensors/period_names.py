"""Report periods by name, one grammar everywhere (API, CLI, scheduler), in Beijing time.

    2026-W05            ISO week (Monday to Sunday)
    2026-03             month
    2026-Q1             quarter
    2026                year
    2026-01-05..2026-02-10   any range of days, both ends included
    ytd                 1 January of this year to today, inclusive

A period is a half-open range of Asia/Shanghai calendar days [start, end).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, TypeAlias

from sensors.local_time import SHANGHAI
from sensors.validation import FIRST_YEAR as _FIRST
from sensors.validation import LAST_YEAR as _LAST

YEARS = (_FIRST, _LAST)

Kind: TypeAlias = Literal["week", "month", "quarter", "year", "range", "ytd"]

_WEEK = re.compile(r"(\d{4})-W(\d{2})", re.ASCII)
_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_QUARTER = re.compile(r"(\d{4})-Q([1-4])", re.ASCII)
_YEAR = re.compile(r"(\d{4})", re.ASCII)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# Longer than any report anyone asks for; keeps expected-sample arithmetic sane.
MAX_DAYS = 366 * 10
# Years a period may fall in: those a reading may carry (one bound for the whole service).
FIRST_YEAR, LAST_YEAR = YEARS


class PeriodError(ValueError):
    """A period name that does not parse; the message says what is accepted."""


HELP = "a period: 2026-W05, 2026-03, 2026-Q1, 2026, 2026-01-05..2026-02-10 or ytd"


@dataclass(frozen=True, slots=True)
class NamedPeriod:
    name: str  # canonical
    kind: Kind
    start: date  # first day
    end: date  # the day after the last

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def year(self) -> int:
        """The year whose targets and goals apply: the year of the period's first day."""
        return self.start.year

    @property
    def start_utc(self) -> datetime:
        return _instant(self.start)

    @property
    def end_utc(self) -> datetime:
        return _instant(self.end)

    def previous(self) -> NamedPeriod:
        """The period before: the week, month, quarter or year before; a range of the same
        length ending where this one starts; for ytd, the same days of last year."""
        if self.kind == "week":
            return week(self.start - timedelta(days=7))
        if self.kind == "month":
            first = (self.start - timedelta(days=1)).replace(day=1)
            return parse(f"{first.year:04d}-{first.month:02d}")
        if self.kind == "quarter":
            first = (self.start - timedelta(days=1)).replace(day=1)
            return parse(f"{first.year:04d}-Q{(first.month - 1) // 3 + 1}")
        if self.kind == "year":
            return parse(f"{self.start.year - 1:04d}")
        if self.kind == "ytd":
            start = self.start.replace(year=self.start.year - 1)
            last = _same_day_last_year(self.last_day)
            return day_range(start, last + timedelta(days=1))
        return day_range(self.start - timedelta(days=self.days), self.start)


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(), SHANGHAI).astimezone(UTC)


def _same_day_last_year(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def today_in_beijing(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(SHANGHAI).date()


def week(day: date) -> NamedPeriod:
    iso = day.isocalendar()
    return parse(f"{iso.year:04d}-W{iso.week:02d}")


def day_range(start: date, end: date) -> NamedPeriod:
    if end <= start:
        raise PeriodError(f"a range ends after it starts: {start}..{end - timedelta(days=1)}")
    if (end - start).days > MAX_DAYS:
        raise PeriodError(f"a range is at most {MAX_DAYS} days")
    return NamedPeriod(f"{start}..{end - timedelta(days=1)}", "range", start, end)


def _year(text: str) -> int:
    year = int(text)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(f"periods lie in the years {FIRST_YEAR}–{LAST_YEAR}, not {year}")
    return year


def _date(text: str) -> date:
    if not _DAY.fullmatch(text):
        raise PeriodError(f"not a date YYYY-MM-DD: {text!r}; {HELP}")
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise PeriodError(f"not a date: {text!r} ({exc})") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise PeriodError(f"periods lie in the years {FIRST_YEAR}–{LAST_YEAR}: {text!r}")
    return day


def parse(text: str, *, today: date | None = None) -> NamedPeriod:
    """The period a name stands for; `today` (Beijing) for ytd, default now."""
    period = _parse(text, today)
    if not (period.start.year >= FIRST_YEAR and period.last_day.year <= LAST_YEAR):
        raise PeriodError(f"periods lie in the years {FIRST_YEAR}–{LAST_YEAR}: {text!r}")
    return period


def _parse(text: str, today: date | None) -> NamedPeriod:
    name = text.strip()
    if name.lower() == "ytd":
        today = today or today_in_beijing()
        return NamedPeriod("ytd", "ytd", date(today.year, 1, 1), today + timedelta(days=1))
    if ".." in name:
        first, _, last = name.partition("..")
        return day_range(_date(first.strip()), _date(last.strip()) + timedelta(days=1))
    if m := _WEEK.fullmatch(name):
        year, number = _year(m[1]), int(m[2])
        try:
            start = date.fromisocalendar(year, number, 1)
        except ValueError:
            raise PeriodError(f"{year} has no ISO week {number}") from None
        return NamedPeriod(name, "week", start, start + timedelta(days=7))
    if m := _QUARTER.fullmatch(name.upper()):
        year, q = _year(m[1]), int(m[2])
        start = date(year, 3 * q - 2, 1)
        end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
        return NamedPeriod(f"{year:04d}-Q{q}", "quarter", start, end)
    if m := _MONTH.fullmatch(name):
        year, month = _year(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"no month {month}; {HELP}")
        end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return NamedPeriod(name, "month", date(year, month, 1), end)
    if m := _YEAR.fullmatch(name):
        year = _year(m[1])
        return NamedPeriod(name, "year", date(year, 1, 1), date(year + 1, 1, 1))
    raise PeriodError(f"not a period: {text!r}; {HELP}")


def months_of(period: NamedPeriod) -> list[NamedPeriod]:
    """The calendar months a period touches, each cut to the period."""
    result = []
    first = period.start.replace(day=1)
    while first < period.end:
        nxt = (
            date(first.year + 1, 1, 1)
            if first.month == 12
            else first.replace(month=first.month + 1)
        )
        start, end = max(first, period.start), min(nxt, period.end)
        whole = start == first and end == nxt
        result.append(
            parse(f"{first.year:04d}-{first.month:02d}") if whole else day_range(start, end)
        )
        first = nxt
    return result
