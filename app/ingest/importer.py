"""`riverwatch import FILE`: historical readings from CSV or XLSX, by the ingest rules.

One row per station and time: a `station` column (its code), a `time` column (ISO 8601
with an offset), one column per parameter code, optionally `<code>_flag` columns (HJ 212
data flags) and a `below_detection` column listing codes ("nh3n tp"). Empty cells are
missing values. Each chunk of rows is committed on its own, so a crash loses at most one
chunk, and running the same file again only counts duplicates.
"""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, sessionmaker
from tqdm import tqdm

from app.ingest import service
from app.ingest.validate import Refusal, parse_items
from core.models import Station
from sensors.text_files import open_text
from sensors.validation import column_code

FIRST_DATA_LINE = 2  # line 1 is the header


@dataclass
class ImportReport:
    rows: int = 0
    accepted: int = 0
    duplicate: int = 0
    revised: int = 0
    refused: int = 0
    errors: list[Refusal] = field(default_factory=list)  # index = the file's line number
    ignored: list[str] = field(default_factory=list)  # columns that name nothing we read


STRUCTURAL_COLUMNS = frozenset({"station", "time", "below_detection"})


def ignored_columns(header: Iterable[str]) -> list[str]:
    def read(name: str) -> bool:
        return (
            name in STRUCTURAL_COLUMNS
            or column_code(name) is not None
            or (name.endswith("_flag") and column_code(name.removesuffix("_flag")) is not None)
        )

    return [name for name in header if not read(name)]


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows as {header: cell}; cells are str for CSV, typed for XLSX, None when empty."""
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        try:
            rows = book.active.iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
            for values in rows:
                yield dict(zip(header, values, strict=False))
        finally:
            book.close()
        return
    with open_text(path) as f:
        for row in csv.DictReader(f):
            yield {k.strip(): (v if v != "" else None) for k, v in row.items() if k}


def _number(cell: Any) -> Any:
    """A number where the cell is one; the cell itself otherwise, for validation to refuse."""
    if isinstance(cell, str):
        try:
            return float(cell.strip())
        except ValueError:
            return cell
    return cell


def to_item(row: Mapping[str, Any]) -> dict[str, Any]:
    values = {
        code: _number(cell)
        for name, cell in row.items()
        if (code := column_code(name)) is not None and cell is not None and cell != ""
    }
    flags = {
        code: str(cell).strip()
        for name, cell in row.items()
        if name.endswith("_flag")
        and (code := column_code(name.removesuffix("_flag"))) is not None
        and cell not in (None, "")
    }
    below = str(row.get("below_detection") or "").replace(";", " ").replace(",", " ").split()
    time = row.get("time")
    if isinstance(time, datetime):  # XLSX cells arrive as datetimes; offsets must be explicit
        time = time.isoformat()
    return {"time": time, "values": values, "flags": flags, "below_detection": below}


def import_file(
    path: Path,
    sessions: sessionmaker[Session],
    *,
    chunk_rows: int = 10_000,
    progress: bool = True,
    err: TextIO | None = None,
    late_horizon: timedelta = timedelta(hours=24),
) -> ImportReport:
    report = ImportReport()
    with sessions() as session:
        known = set(session.scalars(select(Station.code)))
    bar = tqdm(desc=f"importing {path.name}", unit=" rows", disable=not progress, file=err)
    rows = enumerate(read_rows(path), start=FIRST_DATA_LINE)
    while chunk := list(itertools.islice(rows, chunk_rows)):
        if report.rows == 0:
            report.ignored = ignored_columns(chunk[0][1])
        by_station: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for line, row in chunk:
            code = str(row.get("station") or "").strip()
            if code not in known:
                report.errors.append(Refusal(line, "station", f"unknown station {code!r}"))
                report.refused += sum(1 for k, v in row.items() if column_code(k) and v)
                continue
            by_station[code].append((line, to_item(row)))
        with sessions() as session, session.begin():
            stations = session.scalars(
                select(Station)
                .where(Station.code.in_(by_station))
                .options(joinedload(Station.section))
            )
            for station in stations:
                _ingest_lines(session, station, by_station[station.code], report, late_horizon)
        report.rows += len(chunk)
        bar.update(len(chunk))
    bar.close()
    return report


def _ingest_lines(
    session: Session,
    station: Station,
    items: list[tuple[int, dict[str, Any]]],
    report: ImportReport,
    late_horizon: timedelta,
) -> None:
    now = datetime.now(UTC)
    lines = [line for line, _ in items]
    parsed = parse_items((item for _, item in items), now=now)
    # parse_items numbers items from 0; report the file's lines instead.
    parsed.refused = [Refusal(lines[r.index], r.field, r.reason) for r in parsed.refused]
    result = service.ingest(session, station, parsed, now=now, late_horizon=late_horizon)
    report.accepted += result.accepted
    report.duplicate += result.duplicate
    report.revised += result.revised
    report.refused += result.refused
    report.errors.extend(result.errors)
