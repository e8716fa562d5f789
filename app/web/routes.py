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
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.dashboard import service as dashboard
from app.deps import SessionDep
from app.web import auth
from core import catalogue
from sensors import gb3838
from sensors.gb3838 import Waterbody, WaterClass
from sensors.parameters import BY_CODE

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

# Charted on the section page: the plan's usual main exceeding factors and DO.
TREND_ITEMS = ("nh3n", "tp", "do", "codmn")
CONTROL_LEVELS = {"national": "国控", "provincial": "省控", "municipal": "市控"}
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


def page(request: Request, template: str, nav: str, title: str, **data: Any) -> HTMLResponse:
    context = {
        "nav": nav,
        # Each page has its script of the same name.
        "script": template.replace(".html", ".js"),
        "title": title,
        "user": auth.current_user(request),
        "csrf_token": auth.csrf_token(request),
        "classes_json": as_json(_classes()),
        "data_json": as_json(data),
        **data,
    }
    response = templates.TemplateResponse(request, template, context)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, session: SessionDep) -> HTMLResponse:
    # The first state is in the page: no second round trip before anything shows.
    status = dashboard.sections_status(session, datetime.now(UTC), dashboard.DEFAULT_WINDOW_HOURS)
    zones = [z.name for z in catalogue.list_zones(session)]
    return page(
        request,
        "overview.html",
        "overview",
        "总览",
        status=status.model_dump(mode="json"),
        zones=zones,
        control_levels=CONTROL_LEVELS,
    )


@router.get("/sections/{code}", response_class=HTMLResponse)
def section(code: str, request: Request, session: SessionDep) -> HTMLResponse:
    found = catalogue.get_section(session, code)  # 404 for an unknown code
    waterbody = Waterbody(found.waterbody)
    return page(
        request,
        "section.html",
        "overview",
        f"{found.name} 断面",
        code=found.code,
        name=found.name,
        items=[_limits(c, waterbody) for c in TREND_ITEMS],
    )


@router.get("/incidents", response_class=HTMLResponse)
def incidents(request: Request, session: SessionDep) -> HTMLResponse:
    sections = [{"code": s.code, "name": s.name} for s in catalogue.list_sections(session)]
    zones = [z.name for z in catalogue.list_zones(session)]
    return page(request, "incidents.html", "incidents", "事件", sections=sections, zones=zones)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident(incident_id: int, request: Request) -> HTMLResponse:
    return page(request, "incident.html", "incidents", f"事件 #{incident_id}", id=incident_id)


@router.get("/stations", response_class=HTMLResponse)
def stations(request: Request, session: SessionDep) -> HTMLResponse:
    sections = [{"code": s.code, "name": s.name} for s in catalogue.list_sections(session)]
    return page(request, "stations.html", "stations", "站点", sections=sections)


@router.get("/scoreboard", response_class=HTMLResponse)
def scoreboard(request: Request) -> HTMLResponse:
    return page(
        request,
        "scoreboard.html",
        "scoreboard",
        "达Ⅲ消Ⅴ考核",
        year=datetime.now(UTC).year,
        control_levels=CONTROL_LEVELS,
    )
