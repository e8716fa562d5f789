"""GET /api/v1/status/stations: last reading, silence as the rule judges it, QC counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from app.stations import service as stations


def test_station_health_counts_flags_and_tells_silent_stations(
    client: httpx.Client, seeded: Session
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    _, key = stations.add_station(seeded, code="ST-OK", section_code="S07", name="蒲岐 ok")
    quiet, _ = stations.add_station(
        seeded, code="ST-QUIET", section_code="S02", name="永中 quiet", reporting_interval_s=60
    )
    # Registered an hour ago, never heard from: past 3 × 60 s of grace.
    quiet.created_at = now - timedelta(hours=1)
    seeded.commit()
    readings: list[dict[str, Any]] = [
        {"time": (now - timedelta(hours=2)).isoformat(), "values": {"ph": 7.1, "nh3n": 0.5}},
        {
            "time": (now - timedelta(minutes=30)).isoformat(),
            "values": {"nh3n": 0.6},
            "flags": {"nh3n": "M"},  # maintenance: QC fail
        },
        # Older than the day: not counted.
        {"time": (now - timedelta(hours=30)).isoformat(), "values": {"nh3n": 0.5}},
    ]
    posted = client.post(
        "/api/v1/readings",
        json={"readings": readings},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert posted.status_code == 200, posted.text

    body = client.get("/api/v1/status/stations").json()
    assert body["window_hours"] == 24
    by_code = {s["code"]: s for s in body["stations"]}
    ok, silent = by_code["ST-OK"], by_code["ST-QUIET"]
    assert (ok["section"], ok["silent"], ok["readings_24h"]) == ("S07", False, 3)
    assert ok["qc_24h"] == {"good": 2, "not_evaluated": 0, "suspect": 0, "fail": 1, "missing": 0}
    assert datetime.fromisoformat(ok["last_reading"]) == now - timedelta(minutes=30)
    assert ok["last_reading"].endswith("+08:00")
    assert (silent["silent"], silent["last_reading"], silent["age_s"]) == (True, None, None)
    assert silent["silent_after_s"] == 180
    assert silent["readings_24h"] == 0

    only = client.get("/api/v1/status/stations", params={"section": "S02"}).json()
    assert [s["code"] for s in only["stations"]] == ["ST-QUIET"]
