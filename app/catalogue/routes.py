from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from app.access.deps import require
from app.access.policy import Perm, Principal
from app.access.scope import check_section
from app.catalogue.schemas import ParameterOut, SectionOut, ZoneOut
from app.deps import SessionDep
from core import catalogue as service

router = APIRouter(tags=["catalogue"])

Reader = Annotated[Principal, require(Perm.CATALOGUE_READ)]


@router.get("/sections", response_model=list[SectionOut], summary="The key river sections")
def list_sections(session: SessionDep, principal: Reader) -> list[SectionOut]:
    return [
        SectionOut.model_validate(s) for s in service.list_sections(session) if principal.sees(s.id)
    ]


@router.get("/sections/{code}", response_model=SectionOut, summary="One section")
def get_section(code: str, session: SessionDep, principal: Reader) -> SectionOut:
    section = service.get_section(session, code)
    check_section(principal, section.id, f"section {code!r}")
    return SectionOut.model_validate(section)


@router.get("/zones", response_model=list[ZoneOut], summary="The key zones and basins")
def list_zones(session: SessionDep, principal: Reader) -> list[ZoneOut]:
    return [
        ZoneOut(
            id=z.id,
            name=z.name,
            goal=z.goal,
            governments=z.governments,
            sections=[s.code for s in z.sections if principal.sees(s.id)],
        )
        for z in service.list_zones(session)
        if principal.section_ids is None or any(principal.sees(s.id) for s in z.sections)
    ]


@router.get("/parameters", response_model=list[ParameterOut], summary="The parameter catalogue")
def list_parameters(session: SessionDep, _: Reader) -> list[ParameterOut]:
    return [ParameterOut.model_validate(p) for p in service.list_parameters(session)]
