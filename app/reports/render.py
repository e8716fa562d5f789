"""Reports as JSON, CSV (one table, or a zip of all) and XLSX (a sheet per table).

XLSX: Chinese headers in a frozen first row, numbers stored as numbers (percentages as
fractions with a % format), class cells filled in the national real-time platform's
colours (Ⅰ #CCFFFF, Ⅱ #00CCFF, Ⅲ #00FF00, Ⅳ #FFFF00, Ⅴ #FF9B00, 劣Ⅴ #FF0000).
CSV is UTF-8 with a byte-order mark, which spreadsheet programs need to read Chinese.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any, Literal

from app.reports.tables import Column, Report, Table
from core.errors import BadRequest
from sensors.gb3838 import WaterClass

Format = Literal["json", "csv", "xlsx", "zip"]
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
}


def _text(column: Column, value: Any) -> Any:
    if value is None:
        return ""
    if column.kind == "bool":
        return "是" if value else "否"
    return value


def csv_table(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in table.columns])
    for row in table.rows:
        writer.writerow([_text(c, row.get(c.key)) for c in table.columns])
    return out.getvalue().encode("utf-8-sig")


def csv_zip(report: Report) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for table in report.tables:
            bundle.writestr(f"{report.kind}_{table.name}.csv", csv_table(table))
        bundle.writestr(f"{report.kind}.json", json_bytes(report))
    return buffer.getvalue()


def json_bytes(report: Report) -> bytes:
    return json.dumps(report.as_json(), ensure_ascii=False, indent=1).encode()


def xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    fills = {
        k.label: PatternFill("solid", start_color=k.colour.lstrip("#").upper())
        for k in WaterClass
        if k.colour is not None
    }
    bold = Font(bold=True)
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for table in report.tables:
        sheet = book.create_sheet(table.title[:31])
        sheet.append([c.header for c in table.columns])
        for cell in sheet[1]:
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for row in table.rows:
            sheet.append([_text(c, row.get(c.key)) if c.kind != "percent" else row.get(c.key)
                          for c in table.columns])  # fmt: skip
        for j, column in enumerate(table.columns, start=1):
            letter = get_column_letter(j)
            sheet.column_dimensions[letter].width = max(8, min(40, 2 * len(column.header) + 2))
            if column.kind not in ("class", "percent", "number"):
                continue
            for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                if column.kind == "class" and cell.value in fills:
                    cell.fill = fills[str(cell.value)]
                    cell.alignment = Alignment(horizontal="center")
                elif column.kind == "percent" and cell.value is not None:
                    cell.number_format = "0.0%"
        sheet.freeze_panes = "A2"
    notes = book.create_sheet("说明")
    notes.append(["报告", report.title])
    notes.append(["时段", report.period.get("name", "")])
    notes.append(
        ["起止（北京时间）", f"{report.period.get('first_day')} 至 {report.period.get('last_day')}"]
    )
    for note in report.notes:
        notes.append(["说明", note])
    notes.column_dimensions["A"].width = 18
    notes.column_dimensions["B"].width = 120
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def render(report: Report, fmt: str, table: str | None = None) -> tuple[bytes, str, str]:
    """(body, media type, file name) of the report in `fmt`."""
    stem = f"riverwatch_{report.kind}_{report.period.get('name', '')}".replace("..", "_to_")
    if fmt == "json":
        return json_bytes(report), MEDIA_TYPES["json"], f"{stem}.json"
    if fmt == "xlsx":
        return xlsx(report), MEDIA_TYPES["xlsx"], f"{stem}.xlsx"
    if fmt == "zip":
        return csv_zip(report), MEDIA_TYPES["zip"], f"{stem}.zip"
    if fmt == "csv":
        names = [t.name for t in report.tables]
        chosen = table or names[0]
        if chosen not in names:
            raise BadRequest(f"no table {chosen!r} in this report; tables: {', '.join(names)}")
        return csv_table(report.table(chosen)), MEDIA_TYPES["csv"], f"{stem}_{chosen}.csv"
    raise BadRequest(f"format must be json, csv, xlsx or zip, not {fmt!r}")
