"""Period evaluation: per-section means over weeks, months, quarters or years, their classes,
and the shares of a set of sections in I–III, V and 劣Ⅴ.

Facts from the evaluation method (环办〔2011〕22号): the period class is the single-factor
rule on the arithmetic means; a value below the detection limit counts as half the limit;
periods are in China's time, Asia/Shanghai. Group-by is np.unique + np.bincount, no pandas.

Times are numpy datetime64 instants in UTC (any unit; naive, as numpy's are). Aware Python
or pandas timestamps are refused rather than guessed at: convert them first, e.g.
``pd.DatetimeIndex(ts).tz_convert("UTC").tz_localize(None).to_numpy()``.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from sensors.evaluation import Evaluation, evaluate
from sensors.gb3838 import (
    FloatArray,
    Int8Array,
    Precisions,
    Waterbody,
    WaterClass,
)
from sensors.parameters import CLASSIFIED_CODES, get
from sensors.readings import counted_value

Period: TypeAlias = Literal["week", "month", "quarter", "year"]
DayArray: TypeAlias = npt.NDArray[np.datetime64]
Int64Array: TypeAlias = npt.NDArray[np.int64]

# Asia/Shanghai is UTC+8 without daylight saving since 1991 (it kept DST 1986–1991; readings
# from then would be an hour off in summer). A fixed offset keeps the conversion vectorised.
SHANGHAI_OFFSET: Final = np.timedelta64(8, "h")


def _utc_ns(times: npt.ArrayLike) -> npt.NDArray[np.datetime64]:
    arr = np.asarray(times)
    if arr.dtype.kind != "M":
        raise TypeError(
            f"times must be numpy datetime64 in UTC, not {arr.dtype}; convert aware timestamps "
            'with pd.DatetimeIndex(ts).tz_convert("UTC").tz_localize(None).to_numpy()'
        )
    return arr.astype("datetime64[ns]").reshape(-1)


def period_start(times: npt.ArrayLike, period: Period) -> DayArray:
    """The Shanghai calendar date each UTC instant's period starts on (datetime64[D]).

    Weeks start on Monday; quarters in January, April, July, October. NaT stays NaT.
    """
    local = _utc_ns(times) + SHANGHAI_OFFSET
    start: DayArray
    if period == "year":
        start = local.astype("datetime64[Y]").astype("datetime64[D]")
    elif period == "week":
        days = local.astype("datetime64[D]")
        # 1970-01-01, day 0, was a Thursday: (day + 3) % 7 is days since Monday.
        # NaT minus anything stays NaT.
        start = days - ((days.astype(np.int64) + 3) % 7).astype("timedelta64[D]")
    elif period in ("month", "quarter"):
        months = local.astype("datetime64[M]")
        if period == "quarter":
            # 1970-01 starts a quarter; numpy's % floors, so this holds before 1970 too.
            months = months - (months.astype(np.int64) % 3).astype("timedelta64[M]")
        start = months.astype("datetime64[D]")
    else:
        raise ValueError(f"period must be week, month, quarter or year, not {period!r}")
    return start


@dataclass(frozen=True, slots=True, eq=False)
class PeriodMeans:
    """Means per (section, period) row, sorted by section then period start."""

    period: str  # a Period, or a report's own name for its bins
    section: npt.NDArray[np.generic]  # section id of each row
    period_start: DayArray  # Shanghai date the period starts on; str() gives YYYY-MM-DD
    means: Mapping[str, FloatArray]  # per item given; NaN: no value in the period
    counts: Mapping[str, Int64Array]  # values each mean used

    def __len__(self) -> int:
        return len(self.section)


def period_means(
    times: npt.ArrayLike,
    sections: npt.ArrayLike,
    codes: npt.ArrayLike,
    values: npt.ArrayLike,
    below_detection: npt.ArrayLike | None = None,
    *,
    period: Period = "month",
) -> PeriodMeans:
    """Arithmetic means of readings (time, section, item code, value) per section and period.

    A reading flagged below detection carries the detection limit as its value and counts
    as half of it. Readings with NaT time or NaN value are left out. `codes` may be one
    code for all readings.
    """
    starts = period_start(times, period)
    n = starts.size
    sec = np.asarray(sections).reshape(-1)
    code_arr = np.broadcast_to(np.asarray(codes, dtype=str), (n,))
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    bdl = np.broadcast_to(
        np.asarray(False if below_detection is None else below_detection, dtype=np.bool_), (n,)
    )
    if not (sec.size == v.size == n):
        raise ValueError(f"lengths differ: {n} times, {sec.size} sections, {v.size} values")

    keep = ~np.isnat(starts) & ~np.isnan(v)
    v = counted_value(v, bdl)[keep]
    sec_ids, sec_idx = np.unique(sec[keep], return_inverse=True)
    item_codes, item_idx = np.unique(code_arr[keep], return_inverse=True)
    for code in item_codes:
        get(str(code))  # KeyError naming the known codes
    day = starts[keep].astype(np.int64)
    day_ids, day_idx = np.unique(day, return_inverse=True)

    row_ids, row_idx = np.unique(sec_idx * day_ids.size + day_idx, return_inverse=True)
    n_rows, n_items = row_ids.size, item_codes.size
    cell = row_idx * n_items + item_idx
    sums = np.bincount(cell, weights=v, minlength=n_rows * n_items).reshape(n_rows, n_items)
    counts = np.bincount(cell, minlength=n_rows * n_items).reshape(n_rows, n_items)
    return means_from_sums(
        period,
        sec_ids[row_ids // max(day_ids.size, 1)],
        day_ids[row_ids % max(day_ids.size, 1)].astype("datetime64[D]"),
        {str(c): sums[:, j] for j, c in enumerate(item_codes)},
        {str(c): counts[:, j] for j, c in enumerate(item_codes)},
    )


def means_from_sums(
    period: str,
    section: npt.ArrayLike,
    starts: npt.ArrayLike,
    sums: Mapping[str, npt.ArrayLike],
    counts: Mapping[str, npt.ArrayLike],
) -> PeriodMeans:
    """PeriodMeans from per-row sums and counts of the values (below detection already
    halved): what period_means() computes from readings, from roll-ups instead.

    Rows must be sorted by section then period start. Whatever gives the sums, the mean
    is computed here, the one way.
    """
    means: dict[str, FloatArray] = {}
    n: dict[str, Int64Array] = {}
    for code in sums:
        get(code)
        total = np.asarray(sums[code], dtype=np.float64)
        count = np.asarray(counts[code], dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        means[code] = _significant(mean)  # no count: NaN, no value in the period
        n[code] = count
    return PeriodMeans(
        period=period,
        section=np.asarray(section).reshape(-1),
        period_start=np.asarray(starts, dtype="datetime64[D]").reshape(-1),
        means=MappingProxyType(means),
        counts=MappingProxyType(n),
    )


@dataclass(frozen=True, slots=True, eq=False)
class PeriodEvaluation:
    means: PeriodMeans
    evaluation: Evaluation  # row i evaluates means row i

    @property
    def water_class(self) -> Int8Array:
        return self.evaluation.water_class


# A float sum carries binary noise: the mean of 24.9 and five 13.02 is 14.999999999999998,
# of 0.1 and 0.2 0.15000000000000002, and an item compared as sent (COD, BOD5, TN: no
# platform precision) would land in the wrong class at a limit. Rounding means to 12
# significant digits removes the noise and nothing a measurement carries (4–5 digits).
_MEAN_DIGITS: Final = 12
_POW10: Final = np.array([float(10**k) for k in range(23)])  # exact doubles


def _significant(x: FloatArray, digits: int = _MEAN_DIGITS) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = digits - 1 - np.floor(np.log10(np.abs(x)))
    ok = np.isfinite(shift) & (np.abs(shift) <= 22)  # not 0, NaN, or absurdly large/small
    k = np.where(ok, np.abs(shift), 0).astype(np.intp)
    scale = _POW10[k]
    # Dividing an integer by an exact power of ten gives the double nearest the decimal.
    up = shift >= 0
    rounded = np.where(up, np.rint(x * scale) / scale, np.rint(x / scale) * scale)
    result: FloatArray = np.where(ok, rounded, x)
    return result


def _per_section(
    ids: npt.NDArray[np.generic], per_id: Mapping[Hashable, object], default: object
) -> npt.NDArray[np.object_]:
    """Look up each distinct section once (a loop over sections, not readings)."""
    distinct, inverse = np.unique(ids, return_inverse=True)
    found = [per_id.get(s.item() if isinstance(s, np.generic) else s, default) for s in distinct]
    result: npt.NDArray[np.object_] = np.array(found, dtype=object)[inverse]  # scalars only
    return result


def evaluate_periods(
    means: PeriodMeans,
    *,
    waterbody: Waterbody | str | Mapping[Hashable, Waterbody | str] = Waterbody.RIVER,
    targets: int | Mapping[Hashable, int] | None = None,
    precisions: Precisions | None = None,
    main_pollutants_against: Literal["III", "target"] = "III",
) -> PeriodEvaluation:
    """The single-factor class of each (section, period) mean, with targets and multiples.

    `waterbody` and `targets` are one for all sections or a mapping section id -> value
    (sections missing from it: river, and no target).
    """
    values = {c: m for c, m in means.means.items() if c in CLASSIFIED_CODES}
    if isinstance(waterbody, Mapping):
        kinds = {s: Waterbody(str(k)) is Waterbody.LAKE for s, k in waterbody.items()}
        lake: npt.NDArray[np.bool_] = _per_section(means.section, kinds, False).astype(np.bool_)
    else:
        # An array even when one kind: it tells evaluate() the row count with no item given.
        lake = np.full(len(means), Waterbody(waterbody) is Waterbody.LAKE)
    target: int | Int8Array | None
    if isinstance(targets, Mapping):
        target = _per_section(means.section, targets, 0).astype(np.int64)
    else:
        target = targets
    evaluation = evaluate(
        values,
        waterbody=lake,
        target=target,
        precisions=precisions,
        main_pollutants_against=main_pollutants_against,
    )
    return PeriodEvaluation(means, evaluation)


@dataclass(frozen=True, slots=True, eq=False)
class ClassShares:
    """How many sections of a set are in each class, per period.

    counts[p, k] is the number of sections in class k (0: no class, left out of the shares).
    """

    period_start: DayArray
    counts: Int64Array  # (periods, 7)

    @property
    def classed(self) -> Int64Array:
        result: Int64Array = self.counts[:, 1:].sum(axis=1)
        return result

    def _share(self, numerator: Int64Array) -> FloatArray:
        with np.errstate(invalid="ignore"):
            result: FloatArray = numerator / self.classed
        return result

    @property
    def share_i_iii(self) -> FloatArray:
        return self._share(self.counts[:, 1:4].sum(axis=1))

    @property
    def share_v(self) -> FloatArray:
        return self._share(self.counts[:, WaterClass.V])

    @property
    def share_worse_than_v(self) -> FloatArray:
        return self._share(self.counts[:, WaterClass.WORSE_THAN_V])

    def action_plan_met(self, goals: Mapping[int, Fraction]) -> list[bool | None]:
        """Per period: the goal of its year met (I–III share, and none in V or 劣Ⅴ)?

        goals: year → least share in I–III, as the plan data gives them (the plan's
        2022 figure is a stretch goal, 力争: the caller chooses which goals it checks).
        None for a year without a goal, or a period with no classed section. The goals are
        stated for the year: apply this to yearly shares.
        """
        result: list[bool | None] = []
        years = self.period_start.astype("datetime64[Y]").astype(np.int64) + 1970
        for year, row in zip(years.tolist(), self.counts.tolist(), strict=True):
            goal = goals.get(year)
            classed = sum(row[1:])
            if goal is None or classed == 0:
                result.append(None)
                continue
            good = sum(row[1:4])
            result.append(Fraction(good, classed) >= goal and row[5] == 0 and row[6] == 0)
        return result

    def grades(self) -> list[str | None]:
        """Per period, a river's or basin's grade by the share of sections in I–III.

        环办〔2011〕22号: ≥ 90 % 优; 75–90 % 良好; below 75 %: 劣Ⅴ < 20 % 轻度污染, 20–40 %
        中度污染, ≥ 40 % 重度污染. None with fewer than five classed sections. Computed in
        integers, so 9 of 10 is exactly 90 %.
        """
        result: list[str | None] = []
        for row in self.counts.tolist():
            classed, good, worst = sum(row[1:]), sum(row[1:4]), row[6]
            if classed < 5:
                result.append(None)
            elif good * 10 >= classed * 9:
                result.append("优")
            elif good * 4 >= classed * 3:
                result.append("良好")
            elif worst * 5 < classed:
                result.append("轻度污染")
            elif worst * 5 < classed * 2:
                result.append("中度污染")
            else:
                result.append("重度污染")
        return result


def class_shares(
    evaluated: PeriodEvaluation, sections: Collection[Hashable] | None = None
) -> ClassShares:
    """Counts of sections per class and period, over `sections` (default: all)."""
    ids = evaluated.means.section
    water_class = evaluated.water_class
    starts = evaluated.means.period_start
    if sections is not None:
        chosen = np.isin(ids, np.asarray(list(sections)))
        water_class, starts = water_class[chosen], starts[chosen]
    day_ids, day_idx = np.unique(starts.astype(np.int64), return_inverse=True)
    counts = np.bincount(day_idx * 7 + water_class, minlength=day_ids.size * 7)
    return ClassShares(
        period_start=day_ids.astype("datetime64[D]"),
        counts=counts.reshape(day_ids.size, 7).astype(np.int64),
    )
