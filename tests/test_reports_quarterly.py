"""The quarterly report (incidents, capture), kept by the scheduler's job and downloaded;
retention keeps the roll-ups; `riverwatch report …` as a user runs it."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from app.reports import rollups
from app.reports.jobs import apply_retention, previous_quarter, store_quarterly
from app.reports.quarterly import quarterly_report
from app.stations import service as stations
from core.db import make_sessionmaker
from core.models import Section, Station, Zone
from core.settings import Settings
from sensors.local_time import SHANGHAI
from sensors.parameters import BY_CODE
from sensors.period_names import parse
from tests.test_cli import run

NOW = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)


@pytest.fixture
def station(seeded: Session) -> Station:
    st, _ = stations.add_station(
        seeded, code="RQ-1", section_code="S07", name="q", reporting_interval_s=14400
    )
    # Four-hourly in Q1 2026 (90 days: 540 expected): 270 NH3-N values, 540 pH values.
    seeded.execute(
        text(
            "INSERT INTO readings (station_id, parameter_id, time, value, qc_flag)"
            " SELECT :s, :p, t, :v, 1 FROM generate_series("
            " timestamptz '2026-01-01 00:00+08', timestamptz '2026-03-31 20:00+08', :step) t"
        ),
        [
            {"s": st.id, "p": BY_CODE["nh3n"].id, "v": 1.2, "step": "8 hours"},
            {"s": st.id, "p": BY_CODE["ph"].id, "v": 7.0, "step": "4 hours"},
        ],
    )
    incidents = [
        # opened before the quarter, acknowledged after 30 minutes, resolved in it
        ("2025-12-31 23:00+08", "2025-12-31 23:30+08", "2026-01-01 05:00+08"),
        # acknowledged after 90 minutes, still open at the end
        ("2026-03-31 22:00+08", "2026-03-31 23:30+08", None),
        ("2025-06-01 00:00+08", None, "2025-06-02 00:00+08"),  # not in the quarter
    ]
    seeded.execute(
        text(
            "INSERT INTO incidents (rule, section_id, severity, state, opened_at, updated_at,"
            " acknowledged_at, resolved_at) VALUES ('class_v', :sec, 2,"
            " CASE WHEN CAST(:r AS timestamptz) IS NULL THEN 'acknowledged' ELSE 'resolved' END,"
            " CAST(:o AS timestamptz), now(), CAST(:a AS timestamptz), CAST(:r AS timestamptz))"
        ),
        [{"sec": st.section_id, "o": o, "a": a, "r": r} for o, a, r in incidents],
    )
    seeded.commit()
    return st


def table(report: object, name: str) -> list[dict[str, object]]:
    return next(t.rows for t in report.tables if t.name == name)  # type: ignore[attr-defined]


def test_quarterly_incidents_and_capture(seeded: Session, station: Station) -> None:
    report = quarterly_report(seeded, parse("2026-Q1"), now=NOW)
    names = [t.name for t in report.tables]
    assert names[:4] == ["scoreboard", "scoreboard_sections", "zones", "ranking"]
    assert names[4:] == ["sections", "incident_summary", "incidents", "capture"]
    (summary,) = table(report, "incident_summary")
    # Hours cut to the quarter: 5 h (from midnight) + 2 h (to the quarter's end).
    assert summary == {
        "rule": "Ⅴ类及劣Ⅴ类", "count": 2, "hours": 7.0, "acknowledged": 2,
        "median_ack_minutes": 60.0, "max_ack_minutes": 90.0,
    }  # fmt: skip
    (capture,) = table(report, "capture")
    assert capture["expected"] == 540
    assert (capture["ph"], capture["nh3n"], capture["do"]) == (540, 270, 0)
    assert capture["capture"] == 0
    s07 = next(r for r in table(report, "sections") if r["code"] == "S07")
    assert (s07["nh3n"], s07["class"], s07["expected"], s07["samples"]) == (1.2, "Ⅳ", 540, 270)


def test_the_job_keeps_the_report_once_and_the_api_serves_it(
    client: httpx.Client, station: Station
) -> None:
    session = Session.object_session(station)
    assert session is not None
    assert previous_quarter(NOW).name == "2026-Q1"
    assert previous_quarter(datetime(2026, 3, 31, 15, 59, tzinfo=UTC)).name == "2025-Q4"
    assert store_quarterly(session, previous_quarter(NOW), NOW) is True
    assert store_quarterly(session, previous_quarter(NOW), NOW) is False
    session.commit()

    listed = client.get("/api/v1/reports/stored").json()
    zones = session.scalars(select(Zone.name)).all()
    # The city's report and each zone's.
    assert sorted((r["zone"] or "") for r in listed) == sorted(["", *zones])
    (kept,) = [r for r in listed if r["zone"] is None]
    assert (kept["kind"], kept["period"]) == ("quarterly", "2026-Q1")
    s07_zone = session.scalars(
        select(Zone).join(Section, Section.zone_id == Zone.id).where(Section.code == "S07")
    ).one()
    (mine,) = [r for r in listed if r["zone"] == s07_zone.name]
    zone_book = load_workbook(io.BytesIO(client.get(mine["xlsx_url"]).content))
    codes = {row[0] for row in zone_book["断面水质评价"].iter_rows(min_row=2, values_only=True)}
    in_zone = session.scalars(select(Section.code).where(Section.zone_id == s07_zone.id)).all()
    assert codes == set(in_zone)
    xlsx = client.get(kept["xlsx_url"])
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert "预警事件汇总" in book.sheetnames
    assert "数据获取率" in book.sheetnames
    bundle = zipfile.ZipFile(io.BytesIO(client.get(kept["zip_url"]).content))
    assert "quarterly_capture.csv" in bundle.namelist()
    assert client.get("/api/v1/reports/stored/999999").status_code == 404
    assert client.get("/api/v1/reports/stored/0").status_code == 422

    live = client.get("/api/v1/reports/quarterly", params={"period": "2026-Q1", "format": "xlsx"})
    assert live.status_code == 200


def test_retention_keeps_the_rollups(seeded: Session, station: Station) -> None:
    edges = [parse("2026-Q1").start_utc, parse("2026-Q1").end_utc]
    before = rollups.sums(seeded, edges)
    apply_retention(seeded, 30, datetime(2026, 3, 1, tzinfo=UTC))
    left = seeded.scalar(
        text("SELECT min(time) FROM readings WHERE station_id = :s"), {"s": station.id}
    )
    # Deleted up to 30 days before 1 March (a hypertable drops whole 7-day chunks only).
    assert left is not None
    assert left > datetime(2026, 1, 1, tzinfo=UTC)
    after = rollups.sums(seeded, edges)
    assert after.n.tolist() == before.n.tolist()
    assert after.total.tolist() == before.total.tolist()


def test_report_command(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run(cli_env, "seed", "plan").returncode == 0
    assert run(cli_env, "station", "add", "ST-R", "--section", "S05", "--name", "x").returncode == 0
    readings = tmp_path / "r.csv"
    readings.write_text(
        "station,time,nh3n,tp\n"
        "ST-R,2025-05-01T08:00:00+08:00,0.4,0.25\n"
        "ST-R,2025-05-02T08:00:00+08:00,0.6,0.15\n",
        encoding="utf-8",
    )
    assert run(cli_env, "import", str(readings), "--no-progress").returncode == 0

    out = tmp_path / "plan.xlsx"
    done = run(cli_env, "report", "plan", "--period", "2025-Q2", "-o", str(out))
    assert done.returncode == 0, done.stderr
    sheet = load_workbook(out)["断面目标完成情况"]
    header = [c.value for c in sheet[1]]
    s05 = next(r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == "S05")
    assert s05[header.index("水质类别")] == "Ⅲ"  # NH3-N 0.5 II, TP 0.2 III

    csv_out = tmp_path / "s.csv"
    done = run(cli_env, "report", "sections", "--period", "2025-05", "-o", str(csv_out))
    assert done.returncode == 0, done.stderr
    assert csv_out.read_text(encoding="utf-8-sig").startswith("断面编码,断面名称")

    printed = run(cli_env, "report", "zone", "--period", "2025", "--format", "json")
    assert printed.returncode == 0
    assert '"report": "zone"' in printed.stdout

    bad = run(cli_env, "report", "plan", "--period", "2025-Q9")
    assert bad.returncode == 2
    assert "2025-Q9" in bad.stderr


def test_the_scheduler_runs_the_quarterly_report_on_a_quarters_first_day(
    settings: Settings, engine: Engine
) -> None:
    from app.scheduler import Jobs

    jobs = Jobs(settings, make_sessionmaker(engine))
    try:
        ids = {job.id for job in jobs.scheduler.get_jobs()}
        assert {"quarterly_report", "rollups", "retention"} <= ids
        trigger = jobs.scheduler.get_job("quarterly_report").trigger
        after = datetime(2026, 2, 10, 12, tzinfo=SHANGHAI)
        fire = trigger.get_next_fire_time(None, after)
        assert fire == datetime(2026, 4, 1, 0, 30, tzinfo=SHANGHAI)
    finally:
        jobs.client.close()
