"""Sections, zones and parameters: reads, and loading the action plan's catalogue."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, selectinload

from core.errors import NotFound
from core.models import ParameterRow, Section, SectionTarget, Zone
from sensors.parameters import PARAMETERS


def list_sections(session: Session) -> Sequence[Section]:
    stmt = (
        select(Section)
        .options(selectinload(Section.targets), selectinload(Section.zone))
        .order_by(Section.code)
    )
    return session.scalars(stmt).all()


def get_section(session: Session, code: str, *, with_details: bool = True) -> Section:
    """The section with this code, or NotFound; `with_details` loads its targets and zone."""
    stmt = select(Section).where(Section.code == code)
    if with_details:
        stmt = stmt.options(selectinload(Section.targets), selectinload(Section.zone))
    section = session.scalars(stmt).one_or_none()
    if section is None:
        raise NotFound(f"no section {code!r}")
    return section


def in_force(targets: Iterable[SectionTarget], year: int) -> tuple[int, int | None] | None:
    """(binding, stretch) class for `year` from a section's targets.

    The plan sets targets for 2021–2023; after its last year the last targets hold (the
    plan asks to keep them: 稳定), and before its first year the first ones apply.
    """
    ordered = sorted(targets, key=lambda t: t.year)
    chosen = next((t for t in reversed(ordered) if t.year <= year), ordered[0] if ordered else None)
    return None if chosen is None else (chosen.binding_class, chosen.stretch_class)


def targets_in_force(
    session: Session, section_ids: Iterable[int], year: int
) -> dict[int, tuple[int, int | None]]:
    """in_force() for several sections, in one query."""
    rows = session.scalars(
        select(SectionTarget).where(SectionTarget.section_id.in_(list(section_ids)))
    ).all()
    by_section: dict[int, list[SectionTarget]] = {}
    for target in rows:
        by_section.setdefault(target.section_id, []).append(target)
    return {
        section_id: found
        for section_id, targets in by_section.items()
        if (found := in_force(targets, year)) is not None
    }


def binding_target(session: Session, section_id: int, year: int) -> int | None:
    found = targets_in_force(session, [section_id], year).get(section_id)
    return found[0] if found else None


def list_zones(session: Session) -> Sequence[Zone]:
    stmt = select(Zone).options(selectinload(Zone.sections)).order_by(Zone.id)
    return session.scalars(stmt).all()


def list_parameters(session: Session) -> Sequence[ParameterRow]:
    return session.scalars(select(ParameterRow).order_by(ParameterRow.id)).all()


def sync_parameters(session: Session) -> None:
    """Make the parameters table equal to the catalogue in code (insert or update)."""
    rows = [{**asdict(p), "direction": p.direction.value} for p in PARAMETERS]
    stmt = insert(ParameterRow).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ParameterRow.id],
        set_={c: stmt.excluded[c] for c in rows[0] if c != "id"},
    )
    session.execute(stmt)


@dataclass(frozen=True)
class SeedResult:
    zones: int
    sections: int
    targets: int


def load_plan() -> dict[str, Any]:
    text = resources.files("core.data").joinpath("action_plan.json").read_text(encoding="utf-8")
    plan: dict[str, Any] = json.loads(text)
    return plan


def seed_plan(session: Session, plan: dict[str, Any] | None = None) -> SeedResult:
    """Upsert the plan's zones, sections and targets; running it twice changes nothing."""
    plan = plan if plan is not None else load_plan()
    zone_ids: dict[str, int] = {}
    for zone in plan["zones"]:
        values = {k: zone[k] for k in ("name", "goal", "governments")}
        stmt = insert(Zone).values(values)
        stmt = stmt.on_conflict_do_update(index_elements=[Zone.name], set_=values)
        zone_ids[zone["name"]] = session.execute(stmt.returning(Zone.id)).scalar_one()
    zone_of = {name: z["name"] for z in plan["zones"] for name in z["sections"]}

    targets = 0
    for section in plan["sections"]:
        zone_name = zone_of.get(section["name"])
        values = {
            k: section[k]
            for k in (
                "code",
                "name",
                "control_level",
                "class_2020",
                "main_factors_2020",
                "water_system",
                "areas",
                "key_control_range",
            )
        }
        values["waterbody"] = section.get("waterbody", "river")
        values["zone_id"] = zone_ids[zone_name] if zone_name else None
        stmt = insert(Section).values(values)
        stmt = stmt.on_conflict_do_update(index_elements=[Section.code], set_=values)
        section_id = session.execute(stmt.returning(Section.id)).scalar_one()
        for year, (binding, stretch) in section["targets"].items():
            target = {"binding_class": binding, "stretch_class": stretch}
            tstmt = insert(SectionTarget).values(section_id=section_id, year=int(year), **target)
            session.execute(
                tstmt.on_conflict_do_update(
                    index_elements=[SectionTarget.section_id, SectionTarget.year], set_=target
                )
            )
            targets += 1
    session.flush()
    return SeedResult(zones=len(zone_ids), sections=len(plan["sections"]), targets=targets)
