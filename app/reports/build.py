"""One entry for every report by kind and period name: the CLI, the API and the scheduler."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.reports import scoreboard, service
from app.reports.tables import Report
from core.errors import BadRequest

KINDS = ("sections", "plan", "zone", "quarterly")


def build(
    session: Session, kind: str, period: str, *, by: str = "period", now: datetime | None = None
) -> Report:
    named = service.period_of(period)
    if kind == "sections":
        if by not in ("period", "month"):
            raise BadRequest(f"by must be period or month, not {by!r}")
        return service.sections_report(
            session, named, by="month" if by == "month" else "period", now=now
        )
    if kind == "plan":
        return scoreboard.plan_report(session, named, now=now)
    if kind == "zone":
        return scoreboard.zone_report(session, named, now=now)
    if kind == "quarterly":
        from app.reports.quarterly import quarterly_report

        return quarterly_report(session, named, now=now)
    raise BadRequest(f"report must be one of {', '.join(KINDS)}, not {kind!r}")
