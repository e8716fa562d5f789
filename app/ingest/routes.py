from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple

from anyio import from_thread
from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.types import Receive, Scope, Send

from app.deps import Credentials, bearer_key, request_session, station_for_key, station_key
from app.errors import MAX_DETAILS
from app.ingest import service
from app.ingest.context import check_and_context
from app.ingest.schemas import IngestOut
from app.ingest.stations import StationRef
from app.ingest.validate import parse_items
from core.errors import BadRequest, Forbidden, Invalid, PayloadTooLarge
from core.settings import Settings
from sensors.gb3838 import WaterClass
from sensors.qc import QCFlag

router = APIRouter(tags=["ingest"])


class BatchEnvelope(NamedTuple):
    station: str | None
    readings: list[Any]


LABELS = tuple(WaterClass(k).label for k in range(len(WaterClass)))
QC_LABELS = {int(f): f.label for f in QCFlag}


def item_out(value: float, water_class: int, qc: int) -> dict[str, Any]:
    """One item of a time: a value that does not count (QC not good) has no class, so it
    is never read as if it did."""
    counted = qc == QCFlag.GOOD
    shown = water_class if counted else 0
    return {
        "value": value,
        "water_class": shown,
        "label": LABELS[shown],
        "qc_flag": qc,
        "qc": QC_LABELS[qc],
        "counted": counted,
    }


def _time_out(t: service.TimeResult) -> dict[str, Any]:
    """One time of the answer (TimeOut's shape), as plain data: a batch answers
    thousands of these, and pydantic models for each would double the request's cost."""
    ev, row = t.section, t.row
    section_class = int(ev.water_class[row])
    met = None if ev.met is None or t.target is None or section_class == 0 else bool(ev.met[row])
    return {
        "time": t.time.isoformat(),
        "items": {code: item_out(value, cls, qc) for code, (value, cls, qc) in t.items.items()},
        "section_class": section_class,
        "section_label": LABELS[section_class],
        "target_class": t.target,
        "met": met,
        "main_pollutants": list(ev.main_pollutant_codes(row)),
        "backfill": t.backfill,
    }


def batch_envelope(raw: bytes, max_times: int) -> BatchEnvelope:
    """The batch's envelope, checked before its items: an item is judged alone, so one bad
    item never loses the others, and the item count is checked before any item is."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Invalid(
            "the body must be an object {readings: [...]}",
            details=[{"field": "body", "reason": "not an object"}],
        )
    readings, station = body.get("readings"), body.get("station")
    if not isinstance(readings, list):
        raise Invalid(
            "readings must be a list of {time, values, flags?, below_detection?}",
            details=[{"field": "body.readings", "reason": "missing or not a list"}],
        )
    if station is not None and not isinstance(station, str):
        raise Invalid(
            "station must be the posting station's code",
            details=[{"field": "body.station", "reason": "not a string"}],
        )
    if len(readings) > max_times:
        raise PayloadTooLarge(
            f"{len(readings)} times in one batch; at most {max_times}",
            details=[{"field": "body.readings", "reason": "too many items"}],
        )
    return BatchEnvelope(station, readings)


@router.post(
    "/readings",
    response_model=IngestOut,
    summary="Post a batch of a station's readings",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchIn"}}},
        }
    },
    responses={
        403: {"description": "the batch names another station"},
        413: {"description": "body or batch too large"},
        422: {
            "description": "the envelope is not a batch, or every value was refused "
            "(`details` lists them, item by item)"
        },
    },
)
async def post_readings(
    credentials: Annotated[Credentials, Depends(station_key)],
    prefer: Annotated[
        str | None,
        Header(
            description="`return=minimal` (RFC 7240): the counts and refusals only, `times` "
            "empty (a gateway sending large batches need not pay for each time's classes); "
            "the answer then carries `Preference-Applied: return=minimal`",
        ),
    ] = None,
) -> JSONResponse:
    """Validates item by item, keeps every good value, and answers once it is committed.

    The same (station, parameter, time) with the same value is a duplicate and changes
    nothing; with another value it is a revision: the stored value is replaced and the old
    one kept in the audit table. Times are kept to the second.
    """
    # What the schema says of the operation (its key, body and answers); the posts go to
    # ServeReadings, which app.main routes ahead of this declaration.
    raise NotImplementedError("POST /readings is served by app.ingest.routes.ServeReadings")


class ServeReadings:
    """POST /readings as a plain ASGI app, first in the routing table (app.main): stations'
    posts are most requests, and FastAPI's routing walk, request wrapping and dependency
    solving cost more per post on the event loop than all this does. The middlewares and
    the error handlers (app.errors) apply as to any route. An object, not a function:
    Starlette would take a function for a request handler."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        app = request.app
        settings: Settings = app.state.settings
        async with request_session(app) as session:
            # In this order: a bad key is 401 whatever the body.
            station = await station_for_key(session, bearer_key(request.headers))
            batch = batch_envelope(await request.body(), settings.max_batch_times)
            # The database work and its commit in one hop to the thread pool.
            minimal = wants_minimal(request.headers.getlist("prefer"))
            body, may_alert = await run_in_threadpool(
                _store, session, station, batch, settings, minimal
            )
        jobs = app.state.jobs
        # After the response, as it was: the evaluator sees this batch (committed in _store).
        wake = BackgroundTask(jobs.evaluate.wake) if jobs is not None and may_alert else None
        # Documented and tested as IngestOut; sent as plain data for speed (see _time_out).
        headers = {"Preference-Applied": "return=minimal"} if minimal else None
        await JSONResponse(body, headers=headers, background=wake)(scope, receive, send)


def wants_minimal(prefer: list[str]) -> bool:
    """Whether the Prefer header fields ask for return=minimal (RFC 7240: preferences are
    comma-separated, parameters after ';', tokens case-insensitive, optional quotes; of a
    preference given twice, the first counts)."""
    for field in prefer:
        for preference in field.split(","):
            name, _, value = preference.split(";", 1)[0].partition("=")
            if name.strip().lower() == "return":
                return value.strip().strip('"').lower() == "minimal"
    return False


def _store(
    session: Session,
    station: StationRef,
    batch: BatchEnvelope,
    settings: Settings,
    minimal: bool = False,
) -> tuple[dict[str, Any], bool]:
    """The batch stored and committed (in a worker thread): the answer's data (without its
    times if `minimal`), and whether the batch may alert."""
    if batch.station is not None and batch.station != station.code:
        check_and_context(session, station, None, by_key=True)  # a refused key first: 401
        raise Forbidden(f"this key belongs to station {station.code!r}, not the one named")
    now = datetime.now(UTC)
    parsed = parse_items(
        batch.readings, now=now, future_tolerance=timedelta(seconds=settings.future_tolerance_s)
    )
    result = service.ingest(
        session,
        station,
        parsed,
        now=now,
        late_horizon=timedelta(hours=settings.late_horizon_hours),
        by_key=True,
        per_time=not minimal,
    )
    errors = [{"index": e.index, "field": e.field, "reason": e.reason} for e in result.errors]
    if result.refused and not (result.accepted or result.duplicate or result.revised):
        raise Invalid(f"every value was refused ({result.refused})", details=errors)
    # A request cancelled meanwhile raises here and is rolled back (app.deps.request_session);
    # past this point a 2xx means committed.
    from_thread.check_cancelled()
    session.commit()
    return {
        "accepted": result.accepted,
        "duplicate": result.duplicate,
        "revised": result.revised,
        "refused": result.refused,
        "errors": errors[:MAX_DETAILS],
        "errors_omitted": max(0, len(errors) - MAX_DETAILS),
        "times": [_time_out(t) for t in result.times],
    }, result.may_alert
