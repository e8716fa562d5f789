"""The smallest honest ingest endpoint, bench/ingest.py's baseline for small posts: the
same JSON body as POST /api/v1/readings, parsed, and its rows stored by one INSERT into a
copy of `readings` without foreign keys. No auth, no validation, no QC, no classes.

    RIVERWATCH_DATABASE_URL=... uvicorn bench.ingest_baseline:app --workers 2
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from core.db import make_engine
from sensors.parameters import BY_CODE

TABLE = "bench_ceiling"  # made by bench/ingest.py: readings' columns and indexes, no FKs
INSERT = text(
    f"INSERT INTO {TABLE} (station_id, parameter_id, time, value)"
    " SELECT * FROM unnest(CAST(:s AS integer[]), CAST(:p AS smallint[]),"
    " CAST(:t AS timestamptz[]), CAST(:v AS double precision[]))"
)

engine = make_engine(os.environ["RIVERWATCH_DATABASE_URL"], pool_size=20)
app = FastAPI()


@app.post("/readings")
async def readings(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    station = int(request.headers["x-station"])
    s: list[int] = []
    p: list[int] = []
    t: list[datetime] = []
    v: list[float] = []
    for item in body["readings"]:
        when = datetime.fromisoformat(item["time"])
        for code, value in item["values"].items():
            s.append(station)
            p.append(BY_CODE[code].id)
            t.append(when)
            v.append(float(value))
    params: dict[str, Any] = {"s": s, "p": p, "t": t, "v": v}

    def store() -> None:
        with engine.begin() as conn:
            conn.execute(INSERT, params)

    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(store)
    return JSONResponse({"accepted": len(v)})
