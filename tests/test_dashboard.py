"""Dashboard reads over real HTTP: section states, station series, buckets, CSV, errors.

Data goes in the real way, through POST /api/v1/readings, so QC flags and classes are
the ingest's own. Times are recent: the API refuses future readings, and readings older
than 24 h become backfill.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.orm import Session

from app.dashboard import queries
from app.stations import service as stations
from core.models import Station
from sensors.parameters import BY_CODE

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime.now(UTC).replace(microsecond=0)
RAW_HEADER = ["time", "value", "data_flag", "backfill", "qc_flag", "qc", "water_class", "counted"]


@pytest.fixture(autouse=True)
def _now() -> None:
    # From each test's own start: in a long run, times taken at import would drift out of
    # the windows the tests look at.
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)


def ago(hours: float) -> datetime:
    return (NOW - timedelta(hours=hours)).astimezone(SHANGHAI)


def last_midnight() -> datetime:
    """The latest Shanghai midnight at least an hour ago: 30 min after it is in the past."""
    return ago(1).replace(hour=0, minute=0, second=0)


def last_month_start() -> datetime:
    """The latest month start before last_midnight(), whose readings a test posts too."""
    start = last_midnight().replace(day=1)
    return start if start != last_midnight() else (start - timedelta(days=1)).replace(day=1)


@pytest.fixture
def station(seeded: Session) -> tuple[Station, str]:
    # S07 蒲岐: national, river, binding target class III.
    added = stations.add_station(seeded, code="ST-DASH", section_code="S07", name="蒲岐 dash")
    seeded.commit()
    return added


def post(client: httpx.Client, key: str, *readings: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"readings": [{**r, "time": r["time"].isoformat()} for r in readings]}
    response = client.post(
        "/api/v1/readings", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    times: list[dict[str, Any]] = response.json()["times"]
    return times


def series(
    client: httpx.Client,
    code: str = "ST-DASH",
    headers: dict[str, str] | None = None,
    **params: Any,
) -> httpx.Response:
    query = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in params.items()}
    return client.get(f"/api/v1/stations/{code}/readings", params=query, headers=headers)


def nh3n(t: datetime, value: float, flag: str = "N") -> dict[str, Any]:
    return {"time": t, "values": {"nh3n": value}, "flags": {"nh3n": flag}}


def test_status_lists_every_section_and_the_latest_state_of_one_with_data(
    client: httpx.Client, station: tuple[Station, str]
) -> None:
    _, key = station
    first = {"time": ago(3), "values": {"ph": 7.2, "do": 6.1, "nh3n": 0.86, "tp": 0.18}}
    # Maintenance: the latest NH3-N, but not a good one.
    answered = post(client, key, first, nh3n(ago(2), 0.9, "M"))
    assert [i["qc_flag"] for i in answered[0]["items"].values()] == [1, 1, 1, 1]

    body = client.get("/api/v1/status/sections").json()
    assert len(body["sections"]) == 18
    assert body["within_hours"] == 168
    s07 = next(s for s in body["sections"] if s["code"] == "S07")
    assert (s07["zone"], s07["control_level"]) == ("东干河流域", "national")
    # Class from the good values: NH3-N 0.86 and TP 0.18 are Ⅲ, DO 6.1 Ⅱ, pH Ⅰ.
    assert (s07["water_class"], s07["label"]) == (3, "Ⅲ")
    assert (s07["target_class"], s07["target_label"], s07["met"]) == (3, "Ⅲ", True)
    assert (s07["main_pollutants"], s07["classes_missed"]) == ([], 0)
    assert datetime.fromisoformat(s07["last_reading"]) == ago(2)

    item = s07["items"]["nh3n"]
    # The latest value failed QC (maintenance): shown, but with no class, as not counted.
    assert [item[k] for k in ("value", "data_flag", "qc_flag", "qc", "counted", "water_class")] == [
        0.9,
        "M",
        4,
        "fail",
        False,
        0,
    ]
    assert (item["good_value"], datetime.fromisoformat(item["good_time"])) == (0.86, ago(3))
    as_of = datetime.fromisoformat(body["as_of"])
    assert item["time"].endswith("+08:00")
    assert item["age_s"] == pytest.approx((as_of - ago(2)).total_seconds(), abs=0.01)
    assert item["age_s"] >= 7200
    assert s07["items"]["do"]["label"] == "Ⅱ"
    assert list(s07["items"]) == ["ph", "do", "nh3n", "tp"]  # catalogue order

    for other in body["sections"]:
        if other["code"] != "S07":
            assert (other["water_class"], other["label"], other["met"]) == (0, None, None)
            assert (other["items"], other["last_reading"]) == ({}, None)
            assert other["target_class"] in (1, 2, 3, 4, 5, None)


def test_a_worse_item_misses_the_target_and_the_window_limits_what_is_seen(
    client: httpx.Client, station: tuple[Station, str]
) -> None:
    _, key = station
    post(client, key, {"time": ago(3), "values": {"nh3n": 0.86, "tp": 0.18}})
    post(client, key, {"time": ago(0.5), "values": {"tp": 0.25}})

    s07 = client.get("/api/v1/status/sections/S07").json()
    assert (s07["water_class"], s07["label"], s07["met"]) == (4, "Ⅳ", False)
    assert (s07["main_pollutants"], s07["classes_missed"]) == (["tp"], 1)

    recent = client.get("/api/v1/status/sections/S07", params={"within_hours": 1}).json()
    assert list(recent["items"]) == ["tp"]
    assert recent["within_hours"] == 1
    assert client.get("/api/v1/status/sections", params={"within_hours": 0}).status_code == 422


def test_detail_lists_stations_and_leaves_inactive_ones_out_of_the_section_state(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    _, key = station
    other, other_key = stations.add_station(
        session, code="ST-DASH-2", section_code="S07", name="蒲岐 spare"
    )
    session.commit()
    post(client, key, {"time": ago(2), "values": {"nh3n": 0.4, "tp": 0.05}})
    post(client, other_key, {"time": ago(1), "values": {"nh3n": 1.8}})
    other.active = False
    session.commit()

    detail = client.get("/api/v1/status/sections/S07").json()
    assert (detail["code"], detail["name"]) == ("S07", "蒲岐")
    assert (detail["water_class"], detail["met"]) == (2, True)  # the spare's Ⅴ is not counted
    assert detail["items"]["nh3n"]["value"] == 0.4
    by_code = {s["code"]: s for s in detail["stations"]}
    assert list(by_code) == ["ST-DASH", "ST-DASH-2"]
    assert by_code["ST-DASH"]["active"] is True
    assert set(by_code["ST-DASH"]["items"]) == {"nh3n", "tp"}
    spare = by_code["ST-DASH-2"]
    assert (spare["active"], spare["items"]["nh3n"]["label"]) == (False, "Ⅴ")
    assert datetime.fromisoformat(spare["last_reading"]) == ago(1)

    missing = client.get("/api/v1/status/sections/S99")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


def test_raw_series_pages_walk_every_reading_exactly_once(
    client: httpx.Client, station: tuple[Station, str]
) -> None:
    _, key = station
    times = [ago(25 - i) for i in range(25)]
    post(client, key, *(nh3n(t, 0.5 + 0.01 * i) for i, t in enumerate(times)))

    seen: list[datetime] = []
    sizes = []
    cursor = None
    while True:
        params: dict[str, Any] = {"parameter": "nh3n", "start": ago(30), "end": NOW, "limit": 10}
        page = series(client, **params, **({"cursor": cursor} if cursor else {})).json()
        assert [page[k] for k in ("station", "parameter", "unit", "bucket")] == [
            "ST-DASH", "nh3n", "mg/L", "raw",
        ]  # fmt: skip
        sizes.append(len(page["points"]))
        seen += [datetime.fromisoformat(p["time"]) for p in page["points"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == page["points"][-1]["time"]
    assert sizes == [10, 10, 5]
    assert seen == times

    page = series(client, parameter="nh3n", start=ago(30), end=ago(1), limit=24).json()
    first, last = page["points"][0], page["points"][-1]
    assert (len(page["points"]), page["next_cursor"]) == (24, None)  # end is exclusive
    assert (first["value"], first["qc_flag"], first["water_class"]) == (0.5, 1, 2)
    assert (first["backfill"], last["backfill"]) == (True, False)  # 25 h old on arrival
    assert first["time"].endswith("+08:00")


def test_hourly_means_count_qc_good_values_only(
    client: httpx.Client, station: tuple[Station, str]
) -> None:
    _, key = station
    hour = ago(3).replace(minute=0, second=0)
    minutes = {10: (0.5, "N"), 20: (0.6, "N"), 40: (0.7, "N"), 50: (5.0, "M"), 70: (0.8, "N")}
    answered = post(
        client, key, *(nh3n(hour + timedelta(minutes=m), v, f) for m, (v, f) in minutes.items())
    )
    assert [t["items"]["nh3n"]["qc_flag"] for t in answered] == [1, 1, 1, 4, 1]

    page = series(
        client, parameter="nh3n", start=hour, end=hour + timedelta(hours=2), bucket="hour"
    ).json()
    assert page["bucket"] == "hour"
    assert page["points"] == [
        {"time": hour.isoformat(), "mean": pytest.approx(0.6), "min": 0.5, "max": 0.7, "count": 3},
        {"time": (hour + timedelta(hours=1)).isoformat(), "mean": 0.8, "min": 0.8, "max": 0.8,
         "count": 1},
    ]  # fmt: skip
    raw = series(client, parameter="nh3n", start=hour, end=hour + timedelta(hours=2)).json()
    assert [p["qc_flag"] for p in raw["points"]] == [1, 1, 1, 4, 1]  # raw shows them all


def test_a_value_below_detection_counts_as_half_in_means(
    client: httpx.Client, station: tuple[Station, str]
) -> None:
    _, key = station
    hour = ago(3).replace(minute=0, second=0)
    post(
        client,
        key,
        nh3n(hour + timedelta(minutes=10), 0.6),
        {**nh3n(hour + timedelta(minutes=20), 0.04), "below_detection": ["nh3n"]},
    )
    page = series(
        client, parameter="nh3n", start=hour, end=hour + timedelta(hours=1), bucket="hour"
    ).json()
    (point,) = page["points"]
    assert point["mean"] == pytest.approx((0.6 + 0.02) / 2)  # the 0.04 limit counts 0.02


def test_days_and_months_are_shanghai_calendar_days_and_months(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    midnight, month = last_midnight(), last_month_start()
    post(
        client,
        key,
        nh3n(month - timedelta(minutes=30), 0.3),
        nh3n(month + timedelta(minutes=30), 0.35),
        nh3n(midnight - timedelta(minutes=30), 0.4),  # 23:30 and 00:30 Shanghai time
        nh3n(midnight + timedelta(minutes=30), 0.45),
    )
    days = series(
        client, parameter="nh3n", start=midnight - timedelta(hours=2),
        end=midnight + timedelta(hours=2), bucket="day",
    ).json()["points"]  # fmt: skip
    assert [(p["time"], p["mean"], p["count"]) for p in days] == [
        ((midnight - timedelta(days=1)).isoformat(), 0.4, 1),
        (midnight.isoformat(), 0.45, 1),
    ]
    assert midnight.isoformat().endswith("T00:00:00+08:00")

    previous = (month - timedelta(days=1)).replace(day=1)
    walk: list[tuple[str, int]] = []
    cursor = None
    for _ in range(4):
        params: dict[str, Any] = {"cursor": cursor} if cursor else {}
        page = series(
            client, parameter="nh3n", start=previous, end=NOW, bucket="month", limit=1, **params
        ).json()
        walk += [(p["time"], p["count"]) for p in page["points"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None
    assert walk[:2] == [(previous.isoformat(), 1), (month.isoformat(), walk[1][1])]
    assert sum(count for _, count in walk) == 4
    assert all(t.endswith("-01T00:00:00+08:00") for t, _ in walk)

    # Both bucket implementations, where the server has TimescaleDB; the plain one always.
    forms = [False, True] if queries.has_timescaledb(session) else [False]
    nh3n_id = BY_CODE["nh3n"].id
    for unit in ("hour", "day", "month"):
        results = [
            queries.bucket_series(
                session, st.id, nh3n_id, previous, NOW, unit, limit=100, timescale=timescale
            )
            for timescale in forms
        ]
        assert all(r == results[0] for r in results)
        for row in results[0]:
            local = row.bucket.astimezone(SHANGHAI)
            assert (local.minute, local.second) == (0, 0)
            if unit != "hour":
                assert local.hour == 0
            if unit == "month":
                assert local.day == 1


def test_csv_has_a_header_and_shanghai_times(
    client: httpx.Client, station: tuple[Station, str]
) -> None:
    _, key = station
    times = [ago(3), ago(2), ago(1)]
    post(client, key, *(nh3n(t, v) for t, v in zip(times, (0.5, 0.6, 0.7), strict=True)))
    span: dict[str, Any] = {"parameter": "nh3n", "start": ago(4), "end": NOW}

    response = series(client, **span, format="csv", limit=2)
    assert response.headers["content-type"].startswith("text/csv")
    assert datetime.fromisoformat(response.headers["x-next-cursor"]) == times[1]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == RAW_HEADER
    assert [datetime.fromisoformat(r[0]) for r in rows[1:]] == times[:2]
    assert all(r[0].endswith("+08:00") for r in rows[1:])
    assert rows[1][1:] == ["0.5", "N", "false", "1", "good", "2", "true"]

    by_accept = series(client, **span, headers={"Accept": "text/csv"})
    assert len(list(csv.DictReader(io.StringIO(by_accept.text)))) == 3
    assert "x-next-cursor" not in by_accept.headers

    hourly = series(client, **span, bucket="hour", format="csv")
    buckets = list(csv.DictReader(io.StringIO(hourly.text)))
    assert list(buckets[0]) == ["time", "mean", "min", "max", "count"]
    assert sum(int(r["count"]) for r in buckets) == 3
    as_json = series(client, **span, format="json", headers={"Accept": "text/csv"})
    assert as_json.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"parameter": "xyz"}, 400, "known: ph, do"),
        ({"start": ago(1), "end": ago(2)}, 400, "must be before end"),
        ({"start": ago(1), "end": ago(1)}, 400, "must be before end"),
        ({"start": "2026-11-29T08:00:00"}, 422, "timezone"),
        ({"end": "yesterday"}, 422, "end"),
        ({"cursor": "2026-11-29T08:00:00"}, 422, "timezone"),
        ({"bucket": "week"}, 422, "bucket"),
        ({"limit": 0}, 422, "limit"),
        ({"limit": 10_001}, 422, "limit"),
        ({"format": "xml"}, 422, "format"),
        ({"start": None}, 422, "start"),
    ],
)
def test_bad_series_requests_are_refused_clearly(
    client: httpx.Client,
    station: tuple[Station, str],
    params: dict[str, Any],
    status: int,
    says: str,
) -> None:
    query: dict[str, Any] = {"parameter": "nh3n", "start": ago(2), "end": NOW, **params}
    response = series(client, **{k: v for k, v in query.items() if v is not None})
    assert response.status_code == status, response.text
    assert says in response.text


def test_unknown_station_is_404(client: httpx.Client, seeded: Session) -> None:
    response = series(client, "NOPE", parameter="nh3n", start=ago(2), end=NOW)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
