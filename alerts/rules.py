"""The alert rules as pure functions over a station's recent, evaluated readings.

A station's series is its QC-good, non-backfill readings grouped by time and evaluated
by the single-factor rule (sensors.gb3838). A rule looks at the series and says whether
it offends now, how badly, and what to quote. Persistence keeps one bad sensor value
from paging people: fire on the first offending time, only after N in a row, or when
the mean over a window offends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.incidents import Severity
from alerts.vocabulary import Rule
from sensors.evaluation import Evaluation, evaluate
from sensors.gb3838 import WaterClass
from sensors.parameters import Direction
from sensors.parameters import get as get_parameter


class Persistence(StrEnum):
    FIRST = "first"
    CONSECUTIVE = "consecutive"
    ROLLING_MEAN = "rolling_mean"


@dataclass(frozen=True, slots=True)
class RuleConfig:
    rule: Rule
    enabled: bool = True
    persistence: Persistence = Persistence.FIRST
    consecutive: int = 3
    window_s: int = 4 * 3600
    hold_s: int = 3600
    repeat_s: int = 7200
    silent_factor: float = 3.0
    unconfirmed: bool = True
    unconfirmed_tier1: bool = False
    clear_margin: float = 0.0
    clear_readings: int = 1


@dataclass(frozen=True, slots=True)
class Series:
    """One station's evaluated times, oldest first.

    The evaluation is shared by every station judged together (one vectorised call for
    all of them): this station's times are its rows [first_row, first_row + len(times)).
    """

    station_id: int
    station_code: str
    times: npt.NDArray[np.int64]  # epoch seconds
    values: Mapping[str, npt.NDArray[np.float64]]  # item code → value per time (NaN: none)
    waterbody: str
    binding: int  # this year's binding target class, 0 when the plan sets none
    stretch: int  # this year's stretch (力争) class, 0 when none
    evaluation: Evaluation
    first_row: int

    @property
    def rows(self) -> slice:
        return slice(self.first_row, self.first_row + self.times.size)


@dataclass(frozen=True, slots=True)
class Verdict:
    severity: Severity
    water_class: int
    time: int  # epoch seconds of the reading that decided
    details: dict[str, Any]


def severity_of(
    rule: Rule, water_class: npt.NDArray[np.int8], binding: int, stretch: int
) -> npt.NDArray[np.int8]:
    """Per time: 0 (no offence), or the Severity the rule gives that class."""
    c = water_class.astype(np.int8)
    if rule is Rule.CLASS_V:
        return np.select(
            [c == WaterClass.WORSE_THAN_V, c == WaterClass.V],
            [Severity.CRITICAL, Severity.MAJOR],
            0,
        ).astype(np.int8)
    if rule is Rule.TARGET_MISS:
        major = (binding > 0) & (c > binding)
        # A stretch target tighter than the binding one: missing it is worth recording only.
        info = (stretch > 0) & (c > stretch) & ~major
        return np.select([major, info], [Severity.MAJOR, Severity.INFO], 0).astype(np.int8)
    raise ValueError(f"{rule} is not judged on readings")


def _evaluate(series: Series, values: Mapping[str, npt.NDArray[np.float64]]) -> Evaluation:
    return evaluate(
        values,
        waterbody=series.waterbody,
        target=series.binding or None,
    )


def _details(
    series: Series, ev: Evaluation, row: int, *, mean_over_s: int | None = None
) -> dict[str, Any]:
    items = {
        code: {"value": float(ev.rounded[code][row]), "class": int(k[row])}
        for code, k in ev.classes.items()
        if k[row] > 0
    }

    def badness(code: str) -> tuple[int, float]:
        # The worst class first; among equals the larger exceedance of class III.
        multiple = ev.multiples_iii.get(code)
        m = float(multiple[row]) if multiple is not None else np.nan
        return int(items[code]["class"]), m if np.isfinite(m) else -np.inf

    worst = max(items, key=badness, default=None)
    details: dict[str, Any] = {
        "station": series.station_code,
        "time": int(series.times[-1]),
        "class": int(ev.water_class[row]),
        "target": series.binding or None,
        "stretch": series.stretch or None,
        "items": items,
        "indicator": worst,
        "main_pollutants": list(ev.main_pollutant_codes(row)),
    }
    if mean_over_s:
        details["mean_over_s"] = mean_over_s
    return details


def judge(config: RuleConfig, series: Series) -> Verdict | None:
    """Whether the station's series offends under the rule now, and how."""
    if not config.enabled or series.times.size == 0:
        return None
    if config.persistence is Persistence.ROLLING_MEAN:
        recent = series.times >= series.times[-1] - config.window_s
        means = {
            code: np.array([np.nanmean(v[recent]) if np.isfinite(v[recent]).any() else np.nan])
            for code, v in series.values.items()
        }
        ev = _evaluate(series, means)
        severity = severity_of(config.rule, ev.water_class, series.binding, series.stretch)[0]
        if severity == 0:
            return None
        return Verdict(
            Severity(int(severity)),
            int(ev.water_class[0]),
            int(series.times[-1]),
            _details(series, ev, 0, mean_over_s=config.window_s),
        )

    ev = series.evaluation
    severities = severity_of(
        config.rule, ev.water_class[series.rows], series.binding, series.stretch
    )
    needed = config.consecutive if config.persistence is Persistence.CONSECUTIVE else 1
    if severities.size < needed or (severities[-needed:] == 0).any():
        return None
    # N in a row: the mildest of them is what has persisted.
    severity = int(severities[-needed:].min())
    last = series.rows.stop - 1
    return Verdict(
        Severity(severity),
        int(ev.water_class[last]),
        int(series.times[-1]),
        _details(series, ev, last),
    )


def worst(verdicts: list[Verdict]) -> Verdict | None:
    """A section's verdict from its stations': the most severe, then the latest."""
    return max(verdicts, key=lambda v: (v.severity, v.water_class, v.time), default=None)


def _toward_worse(
    code: str, values: npt.NDArray[np.float64], margin: float
) -> npt.NDArray[np.float64]:
    """Values moved `margin` (a fraction) towards the bad side of their limits."""
    direction = get_parameter(code).direction
    if direction is Direction.AT_MOST:
        return values * (1 + margin)
    if direction is Direction.AT_LEAST:
        return values * (1 - margin)
    if direction is Direction.WITHIN:  # pH: away from the middle of 6–9
        return 7.5 + (values - 7.5) * (1 + margin)
    return values


def is_clear(config: RuleConfig, series: Series) -> bool:
    """Hysteresis: the station counts as clear only when its last `clear_readings` times
    would not offend even `clear_margin` nearer the limits, so a section hovering around a
    limit keeps its one incident instead of resolving and reopening it."""
    needed = config.clear_readings
    if series.times.size < needed:
        return False
    shifted = {
        code: _toward_worse(code, v, config.clear_margin) for code, v in series.values.items()
    }
    moved = replace(series, values=shifted, evaluation=_evaluate(series, shifted), first_row=0)
    # Each time on its own (a rolling mean stays a mean): persistence is for raising.
    per_time = config
    if config.persistence is not Persistence.ROLLING_MEAN:
        per_time = replace(config, persistence=Persistence.FIRST)
    for back in range(needed):
        stop = series.times.size - back
        tail = replace(
            moved,
            times=moved.times[:stop],
            values={code: v[:stop] for code, v in moved.values.items()},
        )
        if judge(per_time, tail) is not None:
            return False
    return True
