"""Item-by-item validation of posted readings into columns, keeping every good value.

A batch is a list of times, each with values by parameter code. One bad value refuses
that value; a bad time refuses the values under it; nothing else is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from sensors.parameters import BY_CODE
from sensors.qc import DATA_FLAG_QC
from sensors.validation import EPOCH, check_time, check_value

ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Refusal:
    index: int  # position of the time in the batch (or data row in a file)
    field: str  # "time", "values.nh3n", "flags.tp", …
    reason: str


@dataclass(slots=True)
class Columns:
    """Accepted values, one entry per (time, parameter)."""

    index: list[int] = field(default_factory=list)  # which batch item each came from
    time_us: list[int] = field(default_factory=list)  # epoch microseconds, UTC
    parameter_id: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    data_flag: list[str] = field(default_factory=list)
    below_detection: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.value)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "index": np.asarray(self.index, dtype=np.int64),
            "time_us": np.asarray(self.time_us, dtype=np.int64),
            "parameter_id": np.asarray(self.parameter_id, dtype=np.int16),
            "value": np.asarray(self.value, dtype=np.float64),
            "data_flag": np.asarray(self.data_flag, dtype="U1"),
            "below_detection": np.asarray(self.below_detection, dtype=bool),
        }


@dataclass(slots=True)
class Parsed:
    columns: Columns = field(default_factory=Columns)
    refused: list[Refusal] = field(default_factory=list)
    refused_values: int = 0  # values refused, counting each value under a bad time


def _field(code: str) -> str:
    """A client's name for a parameter as it may be echoed in a refusal: at most 40
    characters, and a lone surrogate (valid JSON, no UTF-8) escaped, so the answer can be
    encoded."""
    return code[:40].encode("utf-8", "backslashreplace").decode("utf-8")


def parse_items(
    items: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    future_tolerance: timedelta = timedelta(minutes=5),
    first_index: int = 0,
) -> Parsed:
    """Validate items of the form {time, values: {code: number}, flags?, below_detection?}."""
    out = Parsed()
    cols = out.columns
    seen: set[tuple[int, int]] = set()  # (time_us, parameter_id) already in this batch

    def refuse(index: int, where: str, reason: str, values: int = 1) -> None:
        # A refusal that holds no countable value (a malformed item, a stray flag) still
        # counts one: `refused` is never 0 beside a listed refusal.
        out.refused.append(Refusal(index, where, reason))
        out.refused_values += max(values, 1)

    for index, item in enumerate(items, start=first_index):
        if not isinstance(item, Mapping):
            refuse(index, "", "each reading must be an object {time, values, …}")
            continue
        values = item.get("values")
        if not isinstance(values, Mapping) or not values:
            refuse(index, "values", "values must be a non-empty object of parameter: number")
            continue
        when = check_time(item.get("time"), now, future_tolerance)
        if isinstance(when, str):
            refuse(index, "time", when, len(values))
            continue
        time_us = (when - EPOCH) // ONE_MICROSECOND
        flags = item.get("flags") or {}
        below = item.get("below_detection") or ()
        if not isinstance(flags, Mapping):
            refuse(index, "flags", "flags must be an object of parameter: letter", len(values))
            continue
        if not isinstance(below, list | tuple) or not all(isinstance(c, str) for c in below):
            refuse(index, "below_detection", "below_detection must be a list of codes", len(values))
            continue
        for code in [*flags, *below]:
            if code not in values:
                where = "flags" if code in flags else "below_detection"
                refuse(index, f"{where}.{_field(code)}", "names a parameter with no value here")
        for code, raw in values.items():
            parameter = BY_CODE.get(code)
            if parameter is None:
                refuse(index, f"values.{_field(code)}", f"unknown parameter {code[:40]!r}")
                continue
            checked = check_value(code, raw)
            if isinstance(checked, str):
                refuse(index, f"values.{code}", checked)
                continue
            flag = flags.get(code, "N")
            if not isinstance(flag, str) or flag not in DATA_FLAG_QC:
                known = " ".join(DATA_FLAG_QC)
                shown = str(flag)[:8]
                refuse(index, f"flags.{code}", f"unknown data flag {shown!r}; known: {known}")
                continue
            key = (time_us, parameter.id)
            if key in seen:
                refuse(index, f"values.{code}", "the same reading twice in one batch")
                continue
            seen.add(key)
            cols.index.append(index)
            cols.time_us.append(time_us)
            cols.parameter_id.append(parameter.id)
            cols.value.append(checked)
            cols.data_flag.append(flag)
            cols.below_detection.append(code in below)
    return out
