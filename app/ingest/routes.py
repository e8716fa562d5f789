from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse

from app.deps import SessionDep, SettingsDep, StationAuthDep
from app.ingest import service
from app.ingest.schemas import BatchIn, IngestOut
from app.ingest.validate import parse_items
from core.errors import Forbidden, PayloadTooLarge
from sensors.gb3838 import WaterClass

router = APIRouter(tags=["ingest"])


LABELS = tuple(WaterClass(k).label for k in range(len(WaterClass)))


def _time_out(t: service.TimeResult) -> dict[str, Any]:
    """One time of the answer (TimeOut's shape), as plain data: a batch answers
    thousands of these, and pydantic models for each would double the request's cost."""
    ev, row = t.section, t.row
    section_class = int(ev.water_class[row])
    met = None if ev.met is None or t.target is None or section_class == 0 else bool(ev.met[row])
    return {
        "time": t.time.isoformat(),
        "items": {
            code: {"value": value, "water_class": cls, "label": LABELS[cls], "qc_flag": qc}
            for code, (value, cls, qc) in t.items.items()
        },
        "section_class": section_class,
        "section_label": LABELS[section_class],
        "target_class": t.target,
        "met": met,
        "main_pollutants": list(ev.main_pollutant_codes(row)),
        "backfill": t.backfill,
    }


@router.post(
    "/readings",
    response_model=IngestOut,
    summary="Post a batch of a station's readings",
    responses={
        401: {"description": "missing or unknown station key"},
        403: {"description": "the batch names another station"},
        413: {"description": "body or batch too large"},
        422: {"description": "every value refused (the body says why, item by item)"},
    },
)
def post_readings(
    batch: BatchIn,
    station: StationAuthDep,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> JSONResponse:
    """Validates item by item, keeps every good value, and answers once it is committed.

    The same (station, parameter, time) with the same value is a duplicate and changes
    nothing; with another value it is a revision: the stored value is replaced and the old
    one kept in the audit table.
    """
    if batch.station is not None and batch.station != station.code:
        raise Forbidden(f"this key belongs to station {station.code!r}, not {batch.station!r}")
    if len(batch.readings) > settings.max_batch_times:
        raise PayloadTooLarge(
            f"{len(batch.readings)} times in one batch; at most {settings.max_batch_times}"
        )
    now = datetime.now(UTC)
    parsed = parse_items(
        (r.__dict__ for r in batch.readings),
        now=now,
        future_tolerance=timedelta(seconds=settings.future_tolerance_s),
    )
    result = service.ingest(
        session,
        station,
        parsed,
        now=now,
        late_horizon=timedelta(hours=settings.late_horizon_hours),
    )
    nothing_kept = result.refused and not (result.accepted or result.duplicate or result.revised)
    jobs = request.app.state.jobs
    if jobs is not None and result.may_alert:
        # Background tasks run after the session's commit: the evaluator sees this batch.
        background.add_task(jobs.evaluate.wake)
    # Documented and tested as IngestOut; sent as plain data for speed (see _time_out).
    return JSONResponse(
        {
            "accepted": result.accepted,
            "duplicate": result.duplicate,
            "revised": result.revised,
            "refused": result.refused,
            "errors": [
                {"index": e.index, "field": e.field, "reason": e.reason} for e in result.errors
            ],
            "times": [_time_out(t) for t in result.times],
        },
        status_code=422 if nothing_kept else 200,
        background=background,
    )
