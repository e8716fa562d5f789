from __future__ import annotations

from fastapi import APIRouter

from app.catalogue.schemas import ParameterOut, SectionOut, ZoneOut
from app.deps import SessionDep
from core import catalogue as service

router = APIRouter(tags=["catalogue"])


@router.get("/sections", response_model=list[SectionOut], summary="The key river sections")
def list_sections(session: SessionDep) -> list[SectionOut]:
    return [SectionOut.model_validate(s) for s in service.list_sections(session)]


@router.get("/sections/{code}", response_model=SectionOut, summary="One section")
def get_section(code: str, session: SessionDep) -> SectionOut:
    return SectionOut.model_validate(service.get_section(session, code))


@router.get("/zones", response_model=list[ZoneOut], summary="The key zones and basins")
def list_zones(session: SessionDep) -> list[ZoneOut]:
    return [
        ZoneOut(
            id=z.id,
            name=z.name,
            goal=z.goal,
            governments=z.governments,
            sections=[s.code for s in z.sections],
        )
        for z in service.list_zones(session)
    ]


@router.get("/parameters", response_model=list[ParameterOut], summary="The parameter catalogue")
def list_parameters(session: SessionDep) -> list[ParameterOut]:
    return [ParameterOut.model_validate(p) for p in service.list_parameters(session)]
