"""The CSV import of upstream lists, shared by the API and the CLI.

CSV columns: section,station,order[,travel_time_min] — one row per upstream station. Each
section named in the file gets exactly the rows given for it (its list is replaced); a
section with a bad row keeps its list as it was, and the bad rows are reported by line.
A second run of the same file changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sqlalchemy.orm import Session

from app.contacts.importer import RowError, csv_reader
from app.upstream import service
from core.errors import BadRequest, RiverwatchError

REQUIRED_COLUMNS: Final = ("section", "station", "order")
OPTIONAL_COLUMNS: Final = ("travel_time_min",)


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    sections: list[str] = field(default_factory=list)  # the sections whose lists were set
    errors: list[RowError] = field(default_factory=list)


def _whole(text: str, column: str) -> int:
    if not text.isdecimal() or len(text) > 9:
        raise BadRequest(f"{column} {text!r} is not a whole number")
    return int(text)


def import_upstream_text(session: Session, text: str) -> ImportReport:
    reader = csv_reader(text, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    report = ImportReport()
    by_section: dict[str, list[tuple[int, service.Entry]]] = {}
    bad_sections: set[str] = set()
    for row in reader:
        report.rows += 1
        section = (row.get("section") or "").strip()
        try:
            if None in row:
                raise BadRequest("more fields than the header has columns")
            if not section:
                raise BadRequest("section is empty")
            travel = (row.get("travel_time_min") or "").strip()
            entry = service.Entry(
                station=(row.get("station") or "").strip(),
                order=_whole((row.get("order") or "").strip(), "order"),
                travel_time_min=_whole(travel, "travel_time_min") if travel else None,
            )
            by_section.setdefault(section, []).append((reader.line_num, entry))
        except RiverwatchError as exc:
            report.errors.append(RowError(reader.line_num, exc.message))
            bad_sections.add(section)
    for section, rows in by_section.items():
        if section in bad_sections:
            continue
        try:
            with session.begin_nested():
                service.set_upstream(session, section, [e for _, e in rows])
            report.sections.append(section)
        except RiverwatchError as exc:
            report.errors.extend(_row_errors(exc, rows))
    return report


def _row_errors(exc: RiverwatchError, rows: list[tuple[int, service.Entry]]) -> list[RowError]:
    """The service names bad entries by index ("[2].station"); the file by line."""
    errors = []
    for detail in exc.details:
        index = str(detail.get("field", "")).removeprefix("[").split("]", 1)[0]
        line = rows[int(index)][0] if index.isdecimal() and int(index) < len(rows) else rows[0][0]
        errors.append(
            RowError(line, f"{detail.get('field', '').split('.')[-1]}: {detail['reason']}")
        )
    return errors or [RowError(rows[0][0], exc.message)]
