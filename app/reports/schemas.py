"""The JSON form of a report, for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class ColumnOut(BaseModel):
    key: str
    header: str
    kind: Literal["text", "number", "integer", "percent", "class", "bool"]


class TableOut(BaseModel):
    name: str
    title: str
    columns: list[ColumnOut]
    rows: list[dict[str, Any]]


class ReportOut(BaseModel):
    report: str
    title: str
    period: dict[str, Any]
    notes: list[str]
    tables: list[TableOut]


class StoredReportOut(BaseModel):
    id: int
    kind: str
    period: str
    zone: str | None  # None: the city's report
    created_at: datetime
    xlsx_bytes: int
    zip_bytes: int
    xlsx_url: str
    zip_url: str
