"""GET /reports/…: the plan's scoreboard, section and zone evaluations, as JSON, CSV or XLSX.

Classes and the plan's KPIs are what the national platform publishes too: readable as the
catalogue is (public when public reads are on). The quarterly report holds incidents:
readable as incidents are."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import func, select

from app.access.deps import require
from app.access.policy import Perm, Principal
from app.deps import ReadSessionDep
from app.reports import render, scoreboard, service
from app.reports.build import build
from app.reports.schemas import ReportOut, StoredReportOut
from app.reports.tables import Report
from core.errors import NotFound
from core.models import StoredReport
from sensors.period_names import HELP

router = APIRouter(prefix="/reports", tags=["reports"])
Reader = Annotated[Principal, require(Perm.CATALOGUE_READ)]
IncidentReader = Annotated[Principal, require(Perm.INCIDENTS_READ)]

PeriodQuery = Annotated[str, Query(max_length=64, description=HELP + " (Beijing time)")]
FormatQuery = Annotated[
    Literal["json", "csv", "xlsx", "zip"],
    Query(description="json; csv (one table, see `table`); xlsx (a sheet per table); zip (CSVs)"),
]
TableQuery = Annotated[str | None, Query(max_length=64, description="csv: which table")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ReportOut,
        "content": {media: {} for media in render.MEDIA_TYPES.values()},
    }
}


def _respond(report: Report, fmt: str, table: str | None) -> Response:
    body, media_type, filename = render.render(report, fmt, table)
    headers = {} if fmt == "json" else {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=media_type, headers=headers)


@router.get("/sections", responses=RESPONSES, summary="Every section evaluated for a period")
def sections(
    session: ReadSessionDep,
    _: Reader,
    period: PeriodQuery,
    by: Annotated[
        Literal["period", "month"], Query(description="one row per section, or per month")
    ] = "period",
    format: FormatQuery = "json",
    table: TableQuery = None,
) -> Response:
    report = service.sections_report(session, service.period_of(period), by=by)
    return _respond(report, format, table)


@router.get(
    "/plan", responses=RESPONSES, summary="The plan's scoreboard for a year, quarter or ytd"
)
def plan(
    session: ReadSessionDep,
    _: Reader,
    period: PeriodQuery,
    format: FormatQuery = "json",
    table: TableQuery = None,
) -> Response:
    report = scoreboard.plan_report(session, service.period_of(period))
    return _respond(report, format, table)


@router.get(
    "/zones", responses=RESPONSES, summary="Zones and the whole plan: class shares or mean class"
)
def zones(
    session: ReadSessionDep,
    _: Reader,
    period: PeriodQuery,
    format: FormatQuery = "json",
    table: TableQuery = None,
) -> Response:
    report = scoreboard.zone_report(session, service.period_of(period))
    return _respond(report, format, table)


@router.get(
    "/quarterly",
    responses=RESPONSES,
    summary="The quarterly report: scoreboard, sections, incidents, data capture",
)
def quarterly(
    session: ReadSessionDep,
    _: IncidentReader,
    period: PeriodQuery,
    format: FormatQuery = "json",
    table: TableQuery = None,
) -> Response:
    return _respond(build(session, "quarterly", period), format, table)


@router.get("/stored", response_model=list[StoredReportOut], summary="Reports kept for download")
def stored(session: ReadSessionDep, _: IncidentReader) -> list[StoredReportOut]:
    rows = session.execute(
        select(
            StoredReport.id,
            StoredReport.kind,
            StoredReport.period,
            StoredReport.created_at,
            func.length(StoredReport.xlsx),
            func.length(StoredReport.csv_zip),
        ).order_by(StoredReport.created_at.desc())
    ).all()
    return [
        StoredReportOut(
            id=i,
            kind=k,
            period=p,
            created_at=c,
            xlsx_bytes=x,
            zip_bytes=z,
            xlsx_url=f"/api/v1/reports/stored/{i}?format=xlsx",
            zip_url=f"/api/v1/reports/stored/{i}?format=zip",
        )
        for i, k, p, c, x, z in rows
    ]


@router.get("/stored/{report_id}", summary="A kept report's file")
def stored_file(
    session: ReadSessionDep,
    _: IncidentReader,
    report_id: Annotated[int, Path(ge=1, le=2**62)],
    format: Annotated[Literal["xlsx", "zip"], Query()] = "xlsx",
) -> Response:
    kept = session.get(StoredReport, report_id)
    if kept is None:
        raise NotFound(f"no stored report {report_id}")
    body = kept.xlsx if format == "xlsx" else kept.csv_zip
    name = f"riverwatch_{kept.kind}_{kept.period}.{format}".replace("..", "_to_")
    return Response(
        body,
        media_type=render.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
