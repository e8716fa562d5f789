"""One entry for every report by kind and period name: the CLI, the API and the scheduler."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.reports import scoreboard, service
from app.reports.queries import Reach
from app.reports.tables import Report
from core.errors import BadRequest

KINDS = ("sections", "plan", "zone", "quarterly")


def build(
    session: Session,
    kind: str,
    period: str,
    *,
    by: str = "period",
    now: datetime | None = None,
    reach: Reach = None,
) -> Report:
    """reach: the sections a caller may see (None: all)."""
    named = service.period_of(period)
    if kind == "sections":
        if by not in ("period", "month"):
            raise BadRequest(f"by must be period or month, not {by!r}")
        return service.sections_report(
            session, named, by="month" if by == "month" else "period", now=now, reach=reach
        )
    if kind == "plan":
        return scoreboard.plan_report(session, named, now=now, reach=reach)
    if kind == "zone":
        return scoreboard.zone_report(session, named, now=now, reach=reach)
    if kind == "quarterly":
        from app.reports.quarterly import quarterly_report

        return quarterly_report(session, named, now=now, reach=reach)
    raise BadRequest(f"report must be one of {', '.join(KINDS)}, not {kind!r}")
