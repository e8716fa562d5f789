"""Section evaluation for a period, from the roll-ups: the one computation every report uses.

Method (环办〔2011〕22号; below detection 环办监测函〔2020〕82号): per item, the arithmetic
mean of the period's QC-good values (backfilled and imported history included; below
detection at half the limit); the mean's class; the section's class by the single-factor
rule; exceedance multiples against class III and against the target; up to three main
pollutants.

A section with several stations (the plan's county-border stations are extra stations of
a section) is evaluated on the pooled values of all its stations: each item's mean is the
sum of every station's good values over their count, so a station counts by the samples
it gave. Data capture = readings received / readings expected, expected being the
period (up to now) over each station's reporting interval, summed over the section's
active stations and any other station that reported in the period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from app.reports import queries, rollups
from core.catalogue import in_force
from sensors.evaluation import evaluate
from sensors.parameters import BY_ID, CLASSIFIED_CODES
from sensors.period_names import NamedPeriod
from sensors.periods import means_from_sums

# The five indicators the national real-time platform classes automatic stations on
# (its class of automatic-station records): the capture of a section is that of the weakest of them.
PLATFORM_CODES = ("ph", "do", "codmn", "nh3n", "tp")


@dataclass(frozen=True, slots=True)
class ItemResult:
    mean: float  # arithmetic mean of the good values
    compared: float  # the mean as compared with the limits (platform precision)
    water_class: int  # 0: not classified (TN of a river)
    samples: int  # QC-good values the mean is of
    received: int  # readings received
    multiple_iii: float | None  # 超标倍数 against class III, when exceeded
    multiple_target: float | None  # against the binding target, when exceeded


@dataclass(frozen=True, slots=True)
class SectionResult:
    section: queries.SectionInfo
    bin: NamedPeriod
    items: dict[str, ItemResult]
    water_class: int  # 0: no class (no evaluated item had data)
    binding: int | None
    stretch: int | None
    met_binding: bool | None  # None: no class or no target
    met_stretch: bool | None
    main_pollutants_iii: tuple[str, ...]
    main_pollutants_target: tuple[str, ...]
    stations: int
    expected: int  # readings expected per item
    samples: int  # fewest QC-good values among the platform items measured
    capture: float | None  # weakest platform item's received / expected
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def max_multiple_iii(self) -> float:
        found = [i.multiple_iii for i in self.items.values() if i.multiple_iii is not None]
        return max(found, default=0.0)


def _expected(
    stations: Sequence[queries.StationInfo],
    reported: set[int],
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[int, int]:
    """Expected readings per item, per section, over [start, min(end, now))."""
    seconds = max(0.0, (min(end, now) - start).total_seconds())
    out: dict[int, int] = {}
    for st in stations:
        if st.active or st.id in reported:
            out[st.section_id] = out.get(st.section_id, 0) + int(seconds // st.interval_s)
    return out


def evaluate_bins(
    session: Session,
    bins: Sequence[NamedPeriod],
    *,
    now: datetime | None = None,
    raw: bool = False,
    sections: Sequence[queries.SectionInfo] | None = None,
) -> list[list[SectionResult]]:
    """Every section evaluated in each of `bins` (consecutive periods), from one read of
    the roll-ups (or, raw=True, of the readings: the baseline). Per bin, by section code."""
    now = now or datetime.now(UTC)
    sections = list(sections) if sections is not None else queries.sections(session)
    if not sections:  # a reach without sections: nothing to evaluate
        return [[] for _ in bins]
    stations = queries.stations(session)
    section_of = {s.id: s.section_id for s in stations}
    edges = [b.start_utc for b in bins] + [bins[-1].end_utc]
    sums = rollups.sums(session, edges, raw=raw)

    # Pool stations into sections: one bincount per figure over (section, bin, item).
    sec_ids = np.array(sorted(s.id for s in sections), dtype=np.int64)
    sections = sorted(sections, key=lambda s: s.id)
    distinct, inverse = np.unique(sums.station_id, return_inverse=True)
    sec_of_row = np.array([section_of.get(int(s), -1) for s in distinct], dtype=np.int64)[inverse]
    keep = np.isin(sec_of_row, sec_ids)
    sec_idx = np.searchsorted(sec_ids, sec_of_row[keep])
    n_sec, n_bin = len(sec_ids), len(bins)
    par_ids = np.array(sorted(BY_ID), dtype=np.int64)
    codes = [BY_ID[int(p)].code for p in par_ids]
    par_idx = np.searchsorted(par_ids, sums.parameter_id[keep])
    cell = (sec_idx * n_bin + sums.bin[keep]) * len(codes) + par_idx
    size, shape = n_sec * n_bin * len(codes), (n_sec * n_bin, len(codes))

    def pooled(x: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        summed = np.bincount(cell, weights=x[keep], minlength=size)
        return np.asarray(summed, dtype=np.float64).reshape(shape)

    total = pooled(sums.total)
    n = pooled(sums.n).astype(np.int64)
    n_all = pooled(sums.n_all).astype(np.int64)

    row_section = np.repeat(sec_ids, n_bin)
    row_start = np.tile(np.array([b.start for b in bins], dtype="datetime64[D]"), n_sec)
    classified = [j for j, c in enumerate(codes) if c in CLASSIFIED_CODES]
    means = means_from_sums(
        "bins",
        row_section,
        row_start,
        {codes[j]: total[:, j] for j in classified},
        {codes[j]: n[:, j] for j in classified},
    )
    binding: list[int] = []
    stretch: list[int] = []
    for sec in sections:
        for b in bins:
            found = in_force(sec.targets, b.year)
            binding.append(found[0] if found else 0)
            stretch.append(found[1] or 0 if found else 0)
    targets = np.array(binding, dtype=np.int8)
    # Targets per row, not per section: a range over two years has each bin's own year.
    lake = np.array([s.waterbody == "lake" for s in sections for _ in bins], dtype=np.bool_)
    ev = evaluate(dict(means.means), waterbody=lake, target=targets)
    ev_target = evaluate(
        dict(means.means), waterbody=lake, target=targets, main_pollutants_against="target"
    )

    results: list[list[SectionResult]] = [[] for _ in bins]
    reported_by_bin = _reported(sums, n_bin)
    by_section: dict[int, list[queries.StationInfo]] = {}
    for st in stations:
        by_section.setdefault(st.section_id, []).append(st)
    for i, sec in enumerate(sections):
        for k, b in enumerate(bins):
            row = i * n_bin + k
            expected = _expected(
                by_section.get(sec.id, []),
                reported_by_bin[k],
                b.start_utc,
                b.end_utc,
                now,
            ).get(sec.id, 0)
            items: dict[str, ItemResult] = {}
            for j in classified:
                code = codes[j]
                if n_all[row, j] == 0 and n[row, j] == 0:
                    continue
                m_iii = ev.multiples_iii.get(code)
                m_t = (ev.multiples_target or {}).get(code)
                items[code] = ItemResult(
                    mean=float(means.means[code][row]),
                    compared=float(ev.rounded[code][row]),
                    water_class=int(ev.classes[code][row]),
                    samples=int(n[row, j]),
                    received=int(n_all[row, j]),
                    multiple_iii=_finite(m_iii[row]) if m_iii is not None else None,
                    multiple_target=_finite(m_t[row]) if m_t is not None else None,
                )
            wc = int(ev.water_class[row])
            bt, stt = int(targets[row]), stretch[row]
            platform = [items[c] for c in PLATFORM_CODES if c in items]
            capture = None
            if expected > 0:
                got = [items[c].received if c in items else 0 for c in PLATFORM_CODES]
                capture = min(got) / expected
            results[k].append(
                SectionResult(
                    section=sec,
                    bin=b,
                    items=items,
                    water_class=wc,
                    binding=bt or None,
                    stretch=stt or None,
                    met_binding=(wc <= bt) if wc and bt else None,
                    met_stretch=(wc <= stt) if wc and stt else None,
                    main_pollutants_iii=ev.main_pollutant_codes(row),
                    main_pollutants_target=ev_target.main_pollutant_codes(row),
                    stations=len(by_section.get(sec.id, [])),
                    expected=expected,
                    samples=min((p.samples for p in platform), default=0),
                    capture=capture,
                )
            )
    return results


def _finite(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _reported(sums: rollups.Sums, n_bin: int) -> list[set[int]]:
    return [set(sums.station_id[sums.bin == k].tolist()) for k in range(n_bin)]
