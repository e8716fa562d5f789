"""GET /reports/…: the plan's scoreboard, section and zone evaluations, as JSON, CSV or XLSX.

Classes and the plan's KPIs are what the national platform publishes too: readable as the
catalogue is (public when public reads are on). The quarterly report holds incidents:
readable as incidents are.

Scope: a zone officer's or river chief's reports hold only the sections in their reach
(their totals are the reach's, named so). Kept quarterly reports are the city's and each
zone's: a zone officer lists and downloads their zones' only (others are 404), a river
chief none (their reach is sections, not a zone)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import ColumnElement, func, select, true

from app.access.deps import require
from app.access.policy import Perm, Principal
from app.deps import ReadSessionDep
from app.reports import render, scoreboard, service
from app.reports.build import build
from app.reports.schemas import ReportOut, StoredReportOut
from app.reports.tables import Report
from core.catalogue import get_section
from core.errors import NotFound
from core.models import StoredReport, Zone
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
    caller: Reader,
    period: PeriodQuery,
    by: Annotated[
        Literal["period", "month"], Query(description="one row per section, or per month")
    ] = "period",
    format: FormatQuery = "json",
    table: TableQuery = None,
    section: Annotated[
        str | None, Query(max_length=32, description="one section, by its code")
    ] = None,
) -> Response:
    reach = caller.section_ids
    if section is not None:
        found = get_section(session, section, with_details=False)
        if reach is not None and found.id not in reach:
            raise NotFound(f"no section {section!r}")  # existence outside one's reach is not told
        reach = frozenset({found.id})
    report = service.sections_report(session, service.period_of(period), by=by, reach=reach)
    return _respond(report, format, table)


@router.get(
    "/plan", responses=RESPONSES, summary="The plan's scoreboard for a year, quarter or ytd"
)
def plan(
    session: ReadSessionDep,
    caller: Reader,
    period: PeriodQuery,
    format: FormatQuery = "json",
    table: TableQuery = None,
) -> Response:
    report = scoreboard.plan_report(session, service.period_of(period), reach=caller.section_ids)
    return _respond(report, format, table)


@router.get(
    "/zones", responses=RESPONSES, summary="Zones and the whole plan: class shares or mean class"
)
def zones(
    session: ReadSessionDep,
    caller: Reader,
    period: PeriodQuery,
    format: FormatQuery = "json",
    table: TableQuery = None,
) -> Response:
    report = scoreboard.zone_report(session, service.period_of(period), reach=caller.section_ids)
    return _respond(report, format, table)


@router.get(
    "/quarterly",
    responses=RESPONSES,
    summary="The quarterly report: scoreboard, sections, incidents, data capture",
)
def quarterly(
    session: ReadSessionDep,
    caller: IncidentReader,
    period: PeriodQuery,
    format: FormatQuery = "json",
    table: TableQuery = None,
) -> Response:
    return _respond(build(session, "quarterly", period, reach=caller.section_ids), format, table)


def _kept_in_reach(caller: Principal) -> ColumnElement[bool]:
    if caller.section_ids is None:
        return true()
    return StoredReport.zone_id.in_(caller.zone_ids)


@router.get("/stored", response_model=list[StoredReportOut], summary="Reports kept for download")
def stored(session: ReadSessionDep, caller: IncidentReader) -> list[StoredReportOut]:
    rows = session.execute(
        select(
            StoredReport.id,
            StoredReport.kind,
            StoredReport.period,
            Zone.name,
            StoredReport.created_at,
            func.length(StoredReport.xlsx),
            func.length(StoredReport.csv_zip),
        )
        .outerjoin(Zone, Zone.id == StoredReport.zone_id)
        .where(_kept_in_reach(caller))
        .order_by(StoredReport.created_at.desc(), StoredReport.zone_id.nulls_first())
    ).all()
    return [
        StoredReportOut(
            id=i,
            kind=k,
            period=p,
            zone=zone,
            created_at=c,
            xlsx_bytes=x,
            zip_bytes=z,
            xlsx_url=f"/api/v1/reports/stored/{i}?format=xlsx",
            zip_url=f"/api/v1/reports/stored/{i}?format=zip",
        )
        for i, k, p, zone, c, x, z in rows
    ]


@router.get("/stored/{report_id}", summary="A kept report's file")
def stored_file(
    session: ReadSessionDep,
    caller: IncidentReader,
    report_id: Annotated[int, Path(ge=1, le=2**62)],
    format: Annotated[Literal["xlsx", "zip"], Query()] = "xlsx",
) -> Response:
    kept = session.scalars(
        select(StoredReport).where(StoredReport.id == report_id, _kept_in_reach(caller))
    ).one_or_none()
    if kept is None:
        raise NotFound(f"no stored report {report_id}")
    body = kept.xlsx if format == "xlsx" else kept.csv_zip
    zone = f"_zone{kept.zone_id}" if kept.zone_id is not None else ""
    name = f"riverwatch_{kept.kind}_{kept.period}{zone}.{format}".replace("..", "_to_")
    return Response(
        body,
        media_type=render.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
