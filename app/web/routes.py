"""The pages. Each is a template plus the JSON it starts from; the browser renders and
refreshes it from the same /api/v1 reads a client would use, so a page never shows a
number the API does not give.

Charts are drawn by a small SVG script of our own (static/chart.js), not a library:
four line charts with class bands need ~150 lines, and the pages stay free of any
third-party script to serve, update and audit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.access.deps import require_page
from app.access.policy import Perm, Principal
from app.access.scope import check_section, visible_codes
from app.dashboard import service as dashboard
from app.deps import SessionDep, SettingsDep
from app.web import auth
from core import catalogue
from core.catalogue import load_plan
from core.settings import Settings
from sensors import gb3838
from sensors.gb3838 import Waterbody, WaterClass
from sensors.local_time import SHANGHAI
from sensors.parameters import BY_CODE

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

# Charted on the section page: the plan's usual main exceeding factors and DO.
TREND_ITEMS = ("nh3n", "tp", "do", "codmn")
CONTROL_LEVELS = {"national": "国控", "provincial": "省控", "municipal": "市控"}
# The scoreboard's years start with the plan's first goal.
FIRST_PLAN_YEAR = min(int(g["year"]) for g in load_plan()["share_goals"])
# Everything the pages load is the service's own; the API is same-origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)


def as_json(value: Any) -> str:
    """JSON for a <script type="application/json"> block: no '<' can end the block early."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("<", "\\u003c")


def _classes() -> list[dict[str, Any]]:
    return [
        {"class": int(c), "label": c.label, "quality": c.quality_zh, "colour": c.colour}
        for c in WaterClass
        if c
    ]


def _limits(code: str, waterbody: Waterbody) -> dict[str, Any]:
    """Class limits of one item as the chart draws them: ≤ or ≥, classes Ⅰ…Ⅴ."""
    row = gb3838.limit_rows(code, waterbody)[0]  # the four charted items have one row
    return {
        "code": code,
        "name_zh": BY_CODE[code].name_zh,
        "unit": BY_CODE[code].unit,
        "side": row.side.value,
        "limits": [float(x) for x in row.limits],
    }


# What each page's data needs, as the API asks it: the catalogue's reads may be public.
Reads = Annotated[Principal, require_page(Perm.CATALOGUE_READ)]
StationReads = Annotated[Principal, require_page(Perm.STATIONS_READ)]
IncidentReads = Annotated[Principal, require_page(Perm.INCIDENTS_READ)]


def page(
    request: Request,
    principal: Principal,
    settings: Settings,
    template: str,
    nav: str,
    title: str,
    **data: Any,
) -> HTMLResponse:
    user = auth.viewer(request, principal, settings)
    context = {
        "nav": nav,
        # Each page has its script of the same name.
        "script": template.replace(".html", ".js"),
        "title": title,
        "user": user,
        "csrf_token": user["csrf_token"],
        "classes_json": as_json(_classes()),
        "data_json": as_json(data | {"user": user}),
        **data,
    }
    response = templates.TemplateResponse(request, template, context)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # A page carries its user's CSRF token: never kept by a shared cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request, session: SessionDep, settings: SettingsDep, principal: Reads
) -> HTMLResponse:
    # The first state is in the page: no second round trip before anything shows. Only
    # the sections in the caller's reach, as GET /status/sections answers.
    status = dashboard.sections_status(session, datetime.now(UTC), dashboard.DEFAULT_WINDOW_HOURS)
    codes = visible_codes(session, principal)
    if codes is not None:
        status.sections = [s for s in status.sections if s.code in codes]
    zones = [z.name for z in catalogue.list_zones(session)]
    return page(
        request,
        principal,
        settings,
        "overview.html",
        "overview",
        "总览",
        status=status.model_dump(mode="json"),
        zones=zones,
        control_levels=CONTROL_LEVELS,
    )


@router.get("/sections/{code}", response_class=HTMLResponse)
def section(
    code: str, request: Request, session: SessionDep, settings: SettingsDep, principal: Reads
) -> HTMLResponse:
    found = catalogue.get_section(session, code)  # 404 for an unknown code
    check_section(principal, found.id, f"section {code!r}")
    waterbody = Waterbody(found.waterbody)
    return page(
        request,
        principal,
        settings,
        "section.html",
        "overview",
        f"{found.name} 断面",
        code=found.code,
        name=found.name,
        items=[_limits(c, waterbody) for c in TREND_ITEMS],
    )


def _in_reach(session: SessionDep, principal: Principal) -> list[dict[str, str]]:
    codes = visible_codes(session, principal)
    return [
        {"code": s.code, "name": s.name}
        for s in catalogue.list_sections(session)
        if codes is None or s.code in codes
    ]


@router.get("/incidents", response_class=HTMLResponse)
def incidents(
    request: Request, session: SessionDep, settings: SettingsDep, principal: IncidentReads
) -> HTMLResponse:
    zones = [z.name for z in catalogue.list_zones(session)]
    return page(
        request,
        principal,
        settings,
        "incidents.html",
        "incidents",
        "事件",
        sections=_in_reach(session, principal),
        zones=zones,
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident(
    incident_id: int, request: Request, settings: SettingsDep, principal: IncidentReads
) -> HTMLResponse:
    return page(
        request,
        principal,
        settings,
        "incident.html",
        "incidents",
        f"事件 #{incident_id}",
        id=incident_id,
    )


@router.get("/stations", response_class=HTMLResponse)
def stations(
    request: Request, session: SessionDep, settings: SettingsDep, principal: StationReads
) -> HTMLResponse:
    return page(
        request,
        principal,
        settings,
        "stations.html",
        "stations",
        "站点",
        sections=_in_reach(session, principal),
    )


@router.get("/scoreboard", response_class=HTMLResponse)
def scoreboard(request: Request, settings: SettingsDep, principal: Reads) -> HTMLResponse:
    return page(
        request,
        principal,
        settings,
        "scoreboard.html",
        "scoreboard",
        "达Ⅲ消Ⅴ考核",
        year=datetime.now(SHANGHAI).year,
        first_year=FIRST_PLAN_YEAR,
    )
