"""A report is named tables of typed columns; JSON, CSV and XLSX are renderings of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# text; number (float); integer; percent (a fraction 0–1, shown as %); class (a class
# label, Ⅰ … 劣Ⅴ, coloured in spreadsheets); bool (是/否 in spreadsheets).
Kind = Literal["text", "number", "integer", "percent", "class", "bool"]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str  # Chinese, as a report sent upward reads
    kind: Kind = "text"


@dataclass(slots=True)
class Table:
    name: str  # file and sheet name stem, ASCII
    title: str  # sheet title (Chinese)
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "columns": [{"key": c.key, "header": c.header, "kind": c.kind} for c in self.columns],
            "rows": self.rows,
        }


@dataclass(slots=True)
class Report:
    kind: str  # sections, plan, zone, quarterly
    title: str
    period: dict[str, Any]
    tables: list[Table]
    notes: list[str] = field(default_factory=list)

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def as_json(self) -> dict[str, Any]:
        return {
            "report": self.kind,
            "title": self.title,
            "period": self.period,
            "notes": self.notes,
            "tables": [t.as_json() for t in self.tables],
        }
