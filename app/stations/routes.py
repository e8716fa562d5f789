from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from app.access.deps import require
from app.access.policy import Perm, Principal
from app.access.scope import check_section
from app.deps import SessionDep
from app.stations import service
from app.stations.schemas import StationOut
from core.models import Station

router = APIRouter(tags=["stations"])

Reader = Annotated[Principal, require(Perm.STATIONS_READ)]


def _out(station: Station) -> StationOut:
    return StationOut(
        code=station.code,
        mn=station.mn,
        section=station.section.code if station.section else None,
        name=station.name,
        reporting_interval_s=station.reporting_interval_s,
        active=station.active,
        simulated=station.simulated,
        created_at=station.created_at,
    )


@router.get("/stations", response_model=list[StationOut], summary="Registered stations")
def list_stations(
    session: SessionDep, principal: Reader, section: str | None = None
) -> list[StationOut]:
    return [
        _out(s) for s in service.list_stations(session, section) if principal.sees(s.section_id)
    ]


@router.get("/stations/{code}", response_model=StationOut, summary="One station")
def get_station(code: str, session: SessionDep, principal: Reader) -> StationOut:
    station = service.get_station(session, code)
    check_section(principal, station.section_id, f"station {code!r}")
    return _out(station)
