from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app import migrate

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head; the scheduler runs its jobs",
)
def readyz(request: Request) -> JSONResponse:
    try:
        current = migrate.current_revision(request.app.state.engine)
    except SQLAlchemyError:
        # The details (host, user, SQL) go to the log, not to an unauthenticated caller.
        log.exception("readiness check: database unreachable")
        return JSONResponse({"status": "unavailable", "reason": "database unreachable"}, 503)
    head = migrate.head_revision()
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "reason": f"database at {current}, code at {head}"}, 503
        )
    jobs = getattr(request.app.state, "jobs", None)
    problems = jobs.problems() if jobs is not None else []
    if problems:
        return JSONResponse({"status": "unavailable", "reason": "; ".join(problems)}, 503)
    return JSONResponse({"status": "ok", "revision": current})
