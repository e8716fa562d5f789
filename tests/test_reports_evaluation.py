"""Section evaluation for a period against an independent decimal computation: ties at
limits, rounding of means, below detection, QC, period bounds in Beijing time, several
stations per section, data capture, binding and stretch targets; a revision and a late
reading change the result; the roll-ups give what a scan of the readings gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.reports.evaluation import SectionResult, evaluate_bins
from app.stations import service as stations
from core.models import Station
from sensors.parameters import BY_CODE
from sensors.period_names import parse
from tests import reports_expected as x

NOW = datetime(2026, 12, 1, tzinfo=UTC)

# S07 蒲岐 (national, binding III), two stations: hourly and four-hourly. Times are
# Beijing time; 2022-03 runs 2022-03-01 00:00 to 2022-04-01 00:00 (+08).
DATA = {
    "A": [  # (time, item, value, below detection, QC flag)
        ("2022-03-01 00:00", "nh3n", "1.2", False, 1),  # first instant of March
        ("2022-03-10 12:00", "nh3n", "1.3", False, 1),
        ("2022-03-10 12:00", "tp", "0.2", False, 1),
        ("2022-03-10 12:00", "do", "4.99", False, 1),
        ("2022-03-11 12:00", "do", "5.0", False, 1),  # DO mean 4.995: rounds to 5.00, III
        ("2022-03-10 12:00", "codmn", "6.01", False, 1),
        ("2022-03-11 12:00", "codmn", "6.0", False, 1),  # mean 6.005: half-even 6.00, III
        ("2022-03-12 12:00", "tp", "0.6", True, 1),  # below detection: counts 0.3
        ("2022-03-13 12:00", "nh3n", "9.9", False, 4),  # QC fail: received, not counted
        ("2022-03-31 23:59", "ph", "7.1", False, 1),
        ("2022-02-28 23:59", "nh3n", "5.0", False, 1),  # February
        ("2022-04-01 00:00", "nh3n", "5.0", False, 1),  # April
    ],
    "B": [
        ("2022-03-20 08:00", "nh3n", "1.25", False, 1),  # nh3n mean (1.2+1.3+1.25)/3 = 1.25
        ("2022-03-20 08:00", "tp", "0.25", False, 1),  # tp mean (0.2+0.3+0.25)/3 = 0.25
        ("2022-03-20 08:00", "ph", "6.9", False, 1),
    ],
}


@pytest.fixture
def pair(seeded: Session) -> dict[str, Station]:
    a, _ = stations.add_station(seeded, code="RP-A", section_code="S07", name="A")
    b, _ = stations.add_station(
        seeded, code="RP-B", section_code="S07", name="B", reporting_interval_s=14400
    )
    for st, rows in ((a, DATA["A"]), (b, DATA["B"])):
        insert(seeded, st, rows)
    return {"A": a, "B": b}


def insert(session: Session, st: Station, rows: list[tuple[str, str, str, bool, int]]) -> None:
    session.execute(
        text(
            "INSERT INTO readings (station_id, parameter_id, time, value, below_detection,"
            " qc_flag) VALUES (:s, :p, CAST(:t AS timestamp) AT TIME ZONE 'Asia/Shanghai',"
            " :v, :b, :q)"
            " ON CONFLICT (station_id, parameter_id, time, kind)"
            " DO UPDATE SET value = excluded.value"
        ),
        [
            {"s": st.id, "t": t, "p": BY_CODE[c].id, "v": float(v), "b": b, "q": q}
            for t, c, v, b, q in rows
        ],
    )


def s07(session: Session, period: str = "2022-03", raw: bool = False) -> SectionResult:
    (results,) = evaluate_bins(session, [parse(period)], now=NOW, raw=raw)
    return next(r for r in results if r.section.code == "S07")


def expected_items() -> dict[str, list[tuple[str, bool]]]:
    items: dict[str, list[tuple[str, bool]]] = {}
    for rows in DATA.values():
        for t, code, v, bdl, qc in rows:
            if qc == 1 and t.startswith("2022-03"):
                items.setdefault(code, []).append((v, bdl))
    return items


def test_every_figure_matches_the_decimal_evaluation(
    seeded: Session, pair: dict[str, Station]
) -> None:
    got = s07(seeded)
    items = expected_items()
    assert set(got.items) == set(items)
    classes, m_iii, m_target = {}, {}, {}
    for code, values in items.items():
        mean = x.mean(values)
        c = x.compared(code, mean)
        classes[code] = x.klass(code, c)
        m_iii[code] = x.multiple(code, c, 3)
        m_target[code] = x.multiple(code, c, 3)  # binding III in 2022
        item = got.items[code]
        assert item.mean == pytest.approx(float(mean), rel=1e-12)
        assert item.compared == float(c)
        assert item.water_class == classes[code], code
        for have, want in (
            (item.multiple_iii, m_iii[code]),
            (item.multiple_target, m_target[code]),
        ):
            assert (have is None) is (want is None), code
            if want is not None:
                assert have == pytest.approx(float(want), abs=1e-10)
    # The ties: DO 4.995 → 5.00 and CODMn 6.005 → 6.00 are class III, not IV.
    assert (classes["do"], classes["codmn"]) == (3, 3)
    assert got.water_class == max(classes.values()) == 4
    assert (got.binding, got.stretch, got.met_binding, got.met_stretch) == (3, None, False, None)
    assert list(got.main_pollutants_iii) == x.main_pollutants(m_iii) == ["nh3n", "tp"]
    assert list(got.main_pollutants_target) == x.main_pollutants(m_target)
    # Samples: QC-good values; received counts the failed one too.
    assert got.items["nh3n"].samples == 3
    assert got.items["nh3n"].received == 4
    # Expected per item: 31 days hourly + 31 days four-hourly = 744 + 186.
    assert got.expected == 930
    assert got.stations == 2
    # Capture: the weakest platform item, DO 2 (CODMn 2, pH 2, NH3-N 4, TP 3) of 930.
    assert got.capture == pytest.approx(2 / 930)
    assert got.samples == 2


def test_rollups_and_a_raw_scan_agree(seeded: Session, pair: dict[str, Station]) -> None:
    assert s07(seeded) == s07(seeded, raw=True)


def test_a_revision_and_a_late_reading_change_the_report(
    seeded: Session, pair: dict[str, Station]
) -> None:
    before = s07(seeded)
    assert before.items["nh3n"].compared == 1.25
    insert(seeded, pair["A"], [("2022-03-10 12:00", "nh3n", "0.2", False, 1)])  # revision
    revised = s07(seeded)
    assert revised.items["nh3n"].compared == pytest.approx(0.883)  # (1.2 + 0.2 + 1.25) / 3
    insert(seeded, pair["B"], [("2022-03-21 08:00", "nh3n", "0.05", False, 1)])  # late
    late = s07(seeded)
    assert late.items["nh3n"].samples == 4
    assert late.items["nh3n"].compared == 0.675  # 2.7 / 4
    assert late.items["nh3n"].water_class == 3


def test_stretch_target_and_year_of_the_bin(seeded: Session) -> None:
    # S02 永中: 2022 binding IV, stretch III; 2023 binding III.
    st, _ = stations.add_station(seeded, code="RP-C", section_code="S02", name="C")
    insert(seeded, st, [("2022-06-01 00:00", "nh3n", "1.5", False, 1),
                        ("2023-06-01 00:00", "nh3n", "1.5", False, 1)])  # fmt: skip
    y2022, y2023 = evaluate_bins(seeded, [parse("2022"), parse("2023")], now=NOW)
    r22 = next(r for r in y2022 if r.section.code == "S02")
    r23 = next(r for r in y2023 if r.section.code == "S02")
    assert (r22.water_class, r22.binding, r22.stretch) == (4, 4, 3)
    assert (r22.met_binding, r22.met_stretch) == (True, False)
    assert r22.main_pollutants_target == ()  # 1.5 is IV's limit: not exceeded
    assert (r23.binding, r23.met_binding) == (3, False)
    assert r23.items["nh3n"].multiple_target == pytest.approx(0.5)


def test_a_section_without_data_has_no_class(seeded: Session) -> None:
    got = s07(seeded)
    assert (got.water_class, got.met_binding, got.items, got.capture) == (0, None, {}, None)
