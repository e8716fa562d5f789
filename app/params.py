"""Bounds checked at the edge, so that no number or date reaches the database that its
column cannot hold: ids within their integer type, offsets and durations within reason,
times within the years a measurement can have."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

from annotated_types import Ge, Le
from pydantic import AfterValidator, AwareDatetime, Strict

from sensors.validation import FIRST_YEAR, LAST_YEAR

INT4_MAX: Final = 2**31 - 1
INT8_MAX: Final = 2**63 - 1

Id4 = Annotated[int, Ge(1), Le(INT4_MAX)]  # an integer primary key
Id8 = Annotated[int, Ge(1), Le(INT8_MAX)]  # a bigint primary key (incidents, messages)
PageOffset = Annotated[int, Ge(0), Le(INT4_MAX)]
# In bodies, `false` is no number and `0` no boolean (pydantic would coerce them).
# A delay, hold or interval: a year at most.
Seconds = Annotated[int, Strict(), Ge(0), Le(366 * 86400)]
Flag = Annotated[bool, Strict()]


def _plausible(when: datetime) -> datetime:
    # By the year alone: the offset arithmetic of a comparison overflows at year 9999.
    if not FIRST_YEAR <= when.year <= LAST_YEAR:
        raise ValueError(f"must be in the years {FIRST_YEAR} to {LAST_YEAR}")
    return when


Moment = Annotated[datetime, AfterValidator(_plausible)]
AwareMoment = Annotated[AwareDatetime, AfterValidator(_plausible)]
