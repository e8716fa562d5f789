"""What a value and a column name must be, decided once for every way readings arrive:
the API, `riverwatch import`, `riverwatch classify` and HJ 212."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from sensors.parameters import BY_CODE, BY_HJ212, PARAMETERS, Direction

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# The years a reading or a query may name: no automatic station measured anything before
# the first, and a year-1 or year-9999 date is a client's bug (and overflows on the way
# to UTC).
FIRST_YEAR: Final = 1901
LAST_YEAR: Final = 2199
# Temperature may be below zero; every other item is a concentration, a count or pH.
SIGNED_CODES: Final = frozenset({"temp"})


def _bounds(code: str) -> tuple[float, float, str]:
    """The values a code may take at all (not QC's plausible ranges): lowest, highest,
    and what a value outside them is."""
    if BY_CODE[code].direction is Direction.WITHIN:
        return 0.0, 14.0, "pH outside 0–14"
    if code in SIGNED_CODES:
        return -math.inf, math.inf, ""
    return 0.0, math.inf, "negative concentration"


def check_value(code: str, raw: object) -> float | str:
    """The value as a float, or the reason it is refused."""
    # bool is an int in Python, but `true` is no measurement.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return f"not a number: {_shown(raw)}"
    try:
        value = float(raw)
    except OverflowError:
        return "number out of range"
    if not math.isfinite(value):
        return f"not a finite number: {_shown(raw)}"
    low, high, what = _bounds(code)
    if not low <= value <= high:
        return f"{what}: {value:g}"
    return value


def out_of_bounds(code: str, values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.bool_], str]:
    """check_value's rule on an array of finite numbers: which are refused, and why."""
    low, high, what = _bounds(code)
    return (values < low) | (values > high), what


def _shown(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "…"


def truncate_to_second(when: datetime) -> datetime:
    """Readings are kept to the second, in storage and QC alike: loggers (HJ 212's
    DataTime) stamp whole seconds, and two readings of one series a fraction apart are the
    same reading, not a series of two."""
    return when.replace(microsecond=0)


def describe_span(delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.0f} {unit}"
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def check_time(raw: object, now: datetime, future_tolerance: timedelta) -> datetime | str:
    """The instant (to the second), or the reason it is refused."""
    if not isinstance(raw, str):
        return "time must be an ISO 8601 string with a UTC offset"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return f"not an ISO 8601 time: {_shown(raw)}"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return f"time has no UTC offset: {_shown(raw)} (e.g. 2026-11-29T08:00:00+08:00)"
    if parsed.year < FIRST_YEAR:
        return f"time before {FIRST_YEAR}: {_shown(raw)}"
    if parsed.year > LAST_YEAR:
        return f"time after {LAST_YEAR}: {_shown(raw)}"
    instant = parsed.astimezone(UTC)
    ahead = instant - now
    if ahead > future_tolerance:
        allowed = describe_span(future_tolerance)
        return f"time is {describe_span(ahead)} ahead of the server's clock (at most {allowed})"
    return truncate_to_second(instant)


def _folded(name: str) -> str:
    """A column name without case, spaces, punctuation or a unit in brackets."""
    name = re.sub(r"[(（\[].*?[)）\]]", "", name.strip().lower())
    return re.sub(r"[\s\-_./·]", "", name)


# Spellings seen in monitoring tables beside the codes and the catalogue's own names.
_EXTRA_SPELLINGS: Final = {
    "nh3n": ("nh3-n", "nh4-n", "ammonia"),
    "tp": ("total p",),
    "tn": ("total n",),
    "do": ("溶氧",),
    "codmn": ("高锰酸钾指数", "imn"),
    "cod": ("codcr",),
    "bod5": ("bod",),
    "ph": ("ph值",),
    "temp": ("temperature", "温度"),
    "turb": ("turbidity",),
    "cond": ("conductivity",),
}

COLUMN_CODES: Final[dict[str, str]] = {
    _folded(spelling): p.code
    for p in PARAMETERS
    for spelling in (
        p.code,
        p.name_zh,
        p.name_en,
        p.hj212_2017,
        *_EXTRA_SPELLINGS.get(p.code, ()),
    )
}
COLUMN_CODES.update({_folded(code): p.code for code, p in BY_HJ212.items() if len(code) > 3})


def column_code(name: str) -> str | None:
    """The parameter code a column heading names (a code, its Chinese or English name, its
    HJ 212 code, or a common spelling such as NH3-N), or None."""
    return COLUMN_CODES.get(_folded(name))
