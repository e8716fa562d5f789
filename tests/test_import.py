"""`riverwatch import`: historical files through the same validation, QC and storage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.ingest.importer import import_file
from app.stations import service as stations
from core.models import Reading, ReadingRevision

CSV = """station,time,nh3n,tp,nh3n_flag,below_detection,note
ST-A,2025-03-01T08:00:00+08:00,0.82,0.15,,,ok
ST-A,2025-03-01T12:00:00+08:00,1.7,abc,,,bad TP cell
ST-B,2025-03-01T08:00:00+08:00,0.5,0.1,,,unknown station
ST-A,2025-03-01T16:00:00+08:00,0.03,0.12,M,nh3n,maintenance
ST-A,2025-03-01T20:00:00,0.4,0.1,,,no offset
"""


@pytest.fixture
def sessions(seeded: Session) -> sessionmaker[Session]:
    stations.add_station(seeded, code="ST-A", section_code="S11", name="塘下 test")
    seeded.commit()
    # The importer commits per chunk; bound to the test's connection its commits end
    # savepoints, and the test's transaction still rolls everything back.
    return sessionmaker(bind=seeded.connection(), join_transaction_mode="create_savepoint")


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Reading)) or 0


def test_csv_import_keeps_good_values_and_reports_bad_lines(
    tmp_path: Path, seeded: Session, sessions: sessionmaker[Session]
) -> None:
    path = tmp_path / "history.csv"
    path.write_text(CSV, encoding="utf-8")
    report = import_file(path, sessions, chunk_rows=2, progress=False)
    assert report.rows == 5
    assert report.accepted == 5  # 2 + 1 (NH3-N of line 3) + 2
    errors = {(e.index, e.field) for e in report.errors}
    assert errors == {(3, "values.tp"), (4, "station"), (6, "time")}
    assert report.refused == 1 + 2 + 2
    assert count(seeded) == 5
    maintenance = seeded.scalars(
        select(Reading).where(Reading.time == datetime(2025, 3, 1, 8, tzinfo=UTC))
    ).all()
    assert {(r.data_flag, r.below_detection, r.backfill) for r in maintenance} == {
        ("M", True, True),
        ("N", False, True),
    }

    again = import_file(path, sessions, progress=False)
    assert (again.accepted, again.duplicate, again.revised) == (0, 5, 0)

    path.write_text(CSV.replace("0.82", "0.92"), encoding="utf-8")
    revised = import_file(path, sessions, progress=False)
    assert (revised.accepted, revised.duplicate, revised.revised) == (0, 4, 1)
    assert seeded.scalar(select(func.count()).select_from(ReadingRevision)) == 1


def test_xlsx_import(tmp_path: Path, seeded: Session, sessions: sessionmaker[Session]) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["station", "time", "do", "ph", "codmn"])
    sheet.append(["ST-A", "2025-03-02T08:00:00+08:00", 5.6, 7.3, 4.2])
    sheet.append(["ST-A", "2025-03-02T12:00:00+08:00", 5.1, None, "n/a"])
    path = tmp_path / "history.xlsx"
    book.save(path)
    report = import_file(path, sessions, progress=False)
    assert (report.rows, report.accepted, report.refused) == (2, 4, 1)
    assert [(e.index, e.field) for e in report.errors] == [(3, "values.codmn")]
    classes = seeded.scalars(select(Reading.water_class).order_by(Reading.time)).all()
    # pH 7.3 within 6–9: Ⅰ; DO 5.6 and 5.1 (≥ 5, < 6): Ⅲ; CODMn 4.2 (> 4, ≤ 6): Ⅲ.
    assert sorted(classes) == [1, 3, 3, 3]
