from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.access.deps import require
from app.access.policy import Perm, Principal
from app.access.scope import check_section
from app.contacts.importer import decode_csv
from app.contacts.routes import MAX_CSV_BYTES
from app.deps import SessionDep
from app.upstream import service
from app.upstream.importer import import_upstream_text
from app.upstream.schemas import SectionUpstreamOut, UpstreamImportOut, UpstreamIn, UpstreamOut
from core.errors import PayloadTooLarge

router = APIRouter(tags=["upstream"])

Reader = Annotated[Principal, require(Perm.TOPOLOGY_READ)]
Manager = Annotated[Principal, require(Perm.TOPOLOGY_MANAGE)]

CSV_HELP = (
    "UTF-8 (or GB 18030) CSV with header section,station,order[,travel_time_min]; one row "
    "per upstream station; each section named gets exactly its rows"
)


def _out(topology: service.Topology) -> SectionUpstreamOut:
    return SectionUpstreamOut(
        section=topology.section.code,
        stations=[s.code for s in topology.stations],
        upstream=[
            UpstreamOut(
                station=link.station.code,
                name=link.station.name,
                section=link.station.section.code if link.station.section else None,
                order=link.position,
                travel_time_min=link.travel_time_min,
            )
            for link in topology.upstream
        ],
    )


@router.get(
    "/sections/{code}/upstream",
    response_model=SectionUpstreamOut,
    summary="A section's stations and the stations upstream of it",
)
def get_upstream(code: str, session: SessionDep, principal: Reader) -> SectionUpstreamOut:
    topology = service.get_upstream(session, code)
    check_section(principal, topology.section.id, f"section {code!r}")
    return _out(topology)


@router.put(
    "/sections/{code}/upstream",
    response_model=SectionUpstreamOut,
    summary="Replace a section's upstream stations",
    description="Stations are registered ones (a park outfall may belong to no section), "
    "not the section's own; orders are distinct. An empty list removes them all.",
)
def set_upstream(
    code: str, body: list[UpstreamIn], session: SessionDep, _: Manager
) -> SectionUpstreamOut:
    entries = [service.Entry(e.station, e.order, e.travel_time_min) for e in body]
    return _out(service.set_upstream(session, code, entries))


@router.post(
    "/sections/upstream/import",
    response_model=UpstreamImportOut,
    summary="Import upstream lists from CSV",
    description="Bad rows are reported with their line number and leave their section as "
    "it was; the other sections are set. Idempotent.",
)
def import_upstream(
    session: SessionDep,
    _: Manager,
    body: Annotated[bytes, Body(media_type="text/csv", description=CSV_HELP)],
) -> UpstreamImportOut:
    if len(body) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"the CSV is over {MAX_CSV_BYTES} bytes")
    return UpstreamImportOut.model_validate(import_upstream_text(session, decode_csv(body)))
