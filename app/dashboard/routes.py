from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from app.access.deps import require
from app.access.policy import Perm, Principal
from app.access.scope import check_section, visible_codes
from app.dashboard import service, station_health
from app.dashboard.schemas import Bucket, SectionDetailOut, SeriesKind, SeriesOut, StatusOut
from app.dashboard.station_health import StationsHealthOut
from app.deps import ReadSessionDep
from app.params import AwareMoment
from app.stations import service as stations
from core.errors import NotFound
from core.models import Station

router = APIRouter(tags=["dashboard"])

Reader = Annotated[Principal, require(Perm.CATALOGUE_READ)]

MAX_LIMIT = 10_000
MAX_WINDOW_HOURS = 90 * 24
CSV_TYPE = "text/csv"

WithinHours = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_WINDOW_HOURS,
        description="look at readings of the last this many hours (default 7 days)",
    ),
]
_OFFSET = "ISO 8601 with a UTC offset, e.g. 2026-11-29T08:00:00+08:00 (URL-encode the +)"


def load_station(
    code: str, session: ReadSessionDep, principal: Annotated[Principal, require(Perm.STATIONS_READ)]
) -> Station:
    """The station named by the path's `code`; 404 if there is none or it is out of reach."""
    station = stations.get_station(session, code)
    check_section(principal, station.section_id, f"station {code!r}")
    return station


StationDep = Annotated[Station, Depends(load_station)]


def wants_csv(format: str | None, accept: str | None) -> bool:
    # An explicit ?format= wins over the Accept header, which browsers send loosely.
    if format is not None:
        return format == "csv"
    return accept is not None and CSV_TYPE in accept.lower()


@router.get(
    "/status/sections",
    response_model=StatusOut,
    summary="Every section's latest state: items, class, target, met",
)
def sections_status(
    session: ReadSessionDep,
    principal: Reader,
    within_hours: WithinHours = service.DEFAULT_WINDOW_HOURS,
) -> StatusOut:
    """All sections, those without readings in the window too (class 0, no items).

    A section's class is the single-factor class over the latest QC-good, non-backfill value
    of each evaluated item of its active stations, against this year's binding target.
    """
    out = service.sections_status(session, datetime.now(UTC), within_hours)
    codes = visible_codes(session, principal)
    if codes is not None:
        out.sections = [s for s in out.sections if s.code in codes]
    return out


@router.get(
    "/status/sections/{code}",
    response_model=SectionDetailOut,
    summary="One section's latest state, with its stations'",
    responses={404: {"description": "no such section"}},
)
def section_status(
    code: str,
    session: ReadSessionDep,
    principal: Reader,
    within_hours: WithinHours = service.DEFAULT_WINDOW_HOURS,
) -> SectionDetailOut:
    codes = visible_codes(session, principal)
    if codes is not None and code not in codes:
        raise NotFound(f"no section {code!r}")
    return service.section_detail(session, code, datetime.now(UTC), within_hours)


@router.get(
    "/stations/{code}/readings",
    response_model=SeriesOut,
    summary="A station's series of one parameter: raw, or hourly/daily/monthly means",
    responses={
        200: {
            "content": {CSV_TYPE: {"schema": {"type": "string"}}},
            "description": "JSON, or CSV with ?format=csv or Accept: text/csv "
            "(the next page's cursor then in the X-Next-Cursor header)",
        },
        400: {"description": "unknown parameter, or start not before end"},
        404: {"description": "no such station"},
    },
)
def station_readings(
    station: StationDep,
    session: ReadSessionDep,
    parameter: Annotated[str, Query(description="parameter code, e.g. nh3n")],
    start: Annotated[AwareMoment, Query(description=f"inclusive; {_OFFSET}")],
    end: Annotated[AwareMoment, Query(description=f"exclusive; {_OFFSET}")],
    bucket: Annotated[
        Bucket,
        Query(
            description="raw readings, or mean/min/max/count of QC-good values per "
            "Asia/Shanghai hour, day or month"
        ),
    ] = "raw",
    kind: Annotated[
        SeriesKind,
        Query(
            description="instant readings, or a logger's minute/hour/day means as it sent "
            "them (HJ 212 period data); never mixed"
        ),
    ] = "instant",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="points per page")] = 1000,
    cursor: Annotated[
        AwareMoment | None,
        Query(description="the previous page's next_cursor: points after it"),
    ] = None,
    format: Annotated[
        Literal["json", "csv"] | None, Query(description="default: by the Accept header")
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> SeriesOut | Response:
    """Keyset-paginated by time: follow next_cursor until it is null.

    Times are answered in +08:00. Bucket aggregates count only QC-good values; buckets
    without one are left out.
    """
    out = service.series(
        session,
        station,
        service.resolve_parameter(parameter),
        start,
        end,
        bucket,
        limit=limit,
        cursor=cursor,
        kind=kind,
    )
    if not wants_csv(format, accept):
        return out
    # Header values are Latin-1: keep a station code's other characters out of the name.
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{out.station}_{out.parameter}_{out.bucket}.csv")
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if out.next_cursor is not None:
        headers["X-Next-Cursor"] = out.next_cursor.isoformat()
    return Response(
        service.series_csv(out), media_type=f"{CSV_TYPE}; charset=utf-8", headers=headers
    )


@router.get(
    "/status/stations",
    response_model=StationsHealthOut,
    summary="Every station's health: last reading, silent or not, QC flags of the last day",
)
def stations_status(
    session: ReadSessionDep,
    principal: Annotated[Principal, require(Perm.STATIONS_READ)],
    section: str | None = None,
) -> StationsHealthOut:
    health = station_health.stations_health(session, datetime.now(UTC), section)
    visible = visible_codes(session, principal)
    if visible is not None:
        health.stations = [s for s in health.stations if s.section in visible]
    return health
