"""POST /api/v1/readings over real HTTP: validation, QC, classes, exactly-once storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.ingest.schemas import IngestOut
from app.stations import service as stations
from core.models import Reading, ReadingRevision, Station
from sensors.parameters import BY_CODE

NOW = datetime.now(UTC).replace(microsecond=0)


def at(hours_ago: float) -> str:
    return (
        (NOW - timedelta(hours=hours_ago))
        .astimezone(datetime.now().astimezone().tzinfo)
        .isoformat()
    )


def shanghai(hours_ago: float) -> str:
    from zoneinfo import ZoneInfo

    return (NOW - timedelta(hours=hours_ago)).astimezone(ZoneInfo("Asia/Shanghai")).isoformat()


@pytest.fixture
def station(seeded: Session) -> tuple[Station, str]:
    # S07 蒲岐: a river section whose binding target is class III from 2021 on.
    added = stations.add_station(seeded, code="ST-PQ", section_code="S07", name="蒲岐 test")
    seeded.commit()
    return added


def post(client: httpx.Client, key: str, body: Any) -> httpx.Response:
    return client.post("/api/v1/readings", json=body, headers={"Authorization": f"Bearer {key}"})


def stored(session: Session, station: Station) -> dict[tuple[str, datetime], Reading]:
    rows = session.scalars(select(Reading).where(Reading.station_id == station.id)).all()
    return {
        (next(p.code for p in BY_CODE.values() if p.id == r.parameter_id), r.time): r for r in rows
    }


def test_a_batch_is_stored_classified_and_answered(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    body = {
        "readings": [
            {"time": shanghai(2), "values": {"ph": 7.2, "do": 6.1, "nh3n": 0.86, "tp": 0.18}},
            {"time": shanghai(1), "values": {"nh3n": 1.72, "tp": 0.12}},
        ]
    }
    response = post(client, key, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    IngestOut.model_validate(answer)  # the documented shape, field for field
    assert (answer["accepted"], answer["duplicate"], answer["revised"], answer["refused"]) == (
        6,
        0,
        0,
        0,
    )
    first, second = answer["times"]
    assert first["items"]["nh3n"]["water_class"] == 3
    assert first["items"]["nh3n"]["label"] == "Ⅲ"
    assert first["items"]["do"]["water_class"] == 2
    assert first["section_class"] == 3
    assert (first["target_class"], first["met"]) == (3, True)
    assert second["section_class"] == 5  # NH3-N 1.72 > 1.5
    assert second["section_label"] == "Ⅴ"
    assert second["met"] is False
    assert second["main_pollutants"] == ["nh3n"]

    rows = stored(session, st)
    assert len(rows) == 6
    nh3n = rows["nh3n", datetime.fromisoformat(body["readings"][1]["time"])]
    assert (nh3n.value, nh3n.water_class, nh3n.data_flag, nh3n.backfill) == (1.72, 5, "N", False)


@pytest.mark.parametrize(
    "prefer", ["return=minimal", 'respond-async, RETURN = "minimal"; x=1', "wait=5,return=minimal"]
)
def test_return_minimal_answers_counts_only_and_stores_the_same(
    client: httpx.Client, session: Session, station: tuple[Station, str], prefer: str
) -> None:
    st, key = station
    body = {
        "readings": [
            {"time": shanghai(2), "values": {"nh3n": 1.72, "tp": 0.12, "xyz": 1}},
            {"time": shanghai(1), "values": {"nh3n": 0.4}},
        ]
    }
    response = client.post(
        "/api/v1/readings", json=body, headers={"Authorization": f"Bearer {key}", "Prefer": prefer}
    )
    assert response.status_code == 200, response.text
    assert response.headers["preference-applied"] == "return=minimal"
    answer = response.json()
    IngestOut.model_validate(answer)
    assert (answer["accepted"], answer["refused"], answer["times"]) == (3, 1, [])
    assert answer["errors"][0]["field"] == "values.xyz"
    rows = stored(session, st)
    assert rows["nh3n", datetime.fromisoformat(body["readings"][0]["time"])].water_class == 5
    assert len(rows) == 3


@pytest.mark.parametrize(
    "prefer",
    [
        None,
        "return=representation",
        "minimal",
        "return=minimalist",
        "return=representation, return=minimal",
    ],
)
def test_without_return_minimal_the_answer_has_its_times(
    client: httpx.Client, station: tuple[Station, str], prefer: str | None
) -> None:
    _, key = station
    headers = {"Authorization": f"Bearer {key}"} | ({"Prefer": prefer} if prefer else {})
    body = {"readings": [{"time": shanghai(1), "values": {"nh3n": 0.4}}]}
    response = client.post("/api/v1/readings", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert "preference-applied" not in response.headers
    assert response.json()["times"][0]["items"]["nh3n"]["water_class"] == 2


def test_a_lone_surrogate_in_a_code_is_refused_not_a_server_error(
    client: httpx.Client, station: tuple[Station, str]
) -> None:
    _, key = station
    # Valid JSON, but no UTF-8: echoed as it came, the answer could not be encoded.
    item = '"values": {"\\ud800": 1, "nh3n": 0.5}, "flags": {"\\udfff": "N"}'
    raw = '{"readings": [{"time": "' + shanghai(1) + '", ' + item + "}]}"
    response = client.post(
        "/api/v1/readings",
        content=raw.encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 1
    assert {e["field"] for e in answer["errors"]} == {"values.\\ud800", "flags.\\udfff"}


def test_same_value_is_a_duplicate_and_another_value_a_revision(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    t = shanghai(3)
    assert (
        post(client, key, {"readings": [{"time": t, "values": {"nh3n": 0.4}}]}).json()["accepted"]
        == 1
    )
    again = post(client, key, {"readings": [{"time": t, "values": {"nh3n": 0.4}}]}).json()
    assert (again["accepted"], again["duplicate"], again["revised"]) == (0, 1, 0)

    revised = post(client, key, {"readings": [{"time": t, "values": {"nh3n": 1.8}}]}).json()
    assert (revised["accepted"], revised["duplicate"], revised["revised"]) == (0, 0, 1)
    row = stored(session, st)["nh3n", datetime.fromisoformat(t)]
    assert (row.value, row.water_class) == (1.8, 5)
    audit = session.scalars(select(ReadingRevision)).all()
    assert [(a.value, a.water_class) for a in audit] == [(0.4, 2)]

    # The same instant written with another offset is the same reading.
    utc = datetime.fromisoformat(t).astimezone(UTC).isoformat()
    assert (
        post(client, key, {"readings": [{"time": utc, "values": {"nh3n": 1.8}}]}).json()[
            "duplicate"
        ]
        == 1
    )


def test_bad_items_are_refused_one_by_one_and_good_ones_kept(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    future = (NOW + timedelta(hours=1)).isoformat()
    body = {
        "readings": [
            {
                "time": shanghai(5),
                "values": {
                    "nh3n": 0.5,
                    "xyz": 1,
                    "tp": "abc",
                    "codmn": -1,
                    "ph": 15,
                    "do": True,
                },
            },
            {"time": "2026-11-29T08:00:00", "values": {"nh3n": 0.5, "tp": 0.1}},
            {"time": future, "values": {"nh3n": 0.5}},
            {"time": shanghai(4), "values": {"tp": 0.1}, "flags": {"tp": "Q"}},
            {"time": shanghai(5), "values": {"nh3n": 0.6}},
            {"time": "yesterday", "values": {"nh3n": 0.5}},
            {"time": shanghai(6), "values": {}},
            {"time": shanghai(7), "values": {"tp": 0.1}, "flags": {"tp": ["N"]}},
            {"time": shanghai(8), "values": {"tp": 0.1}, "below_detection": [["tp"]]},
        ]
    }
    response = post(client, key, body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 1
    errors = {(e["index"], e["field"]): e["reason"] for e in answer["errors"]}
    assert "unknown parameter" in errors[0, "values.xyz"]
    assert "not a number" in errors[0, "values.tp"]
    assert "negative" in errors[0, "values.codmn"]
    assert "pH outside 0–14" in errors[0, "values.ph"]
    assert "not a number" in errors[0, "values.do"]
    assert "no UTC offset" in errors[1, "time"]
    assert "ahead of the server's clock" in errors[2, "time"]
    assert "unknown data flag" in errors[3, "flags.tp"]
    assert "twice in one batch" in errors[4, "values.nh3n"]
    assert "ISO 8601" in errors[5, "time"]
    assert (6, "values") in errors
    assert "unknown data flag" in errors[7, "flags.tp"]
    assert "list of codes" in errors[8, "below_detection"]
    # 5 bad values in item 0, 2 under the offset-less time, 1 future, 1 flag, 1 duplicate,
    # 1 under the unparseable time, 1 each under the malformed flag and list; the empty
    # item holds no value but is a refusal, and counts one.
    assert answer["refused"] == 14
    assert list(stored(session, st)) == [("nh3n", datetime.fromisoformat(shanghai(5)))]


def test_non_finite_numbers_are_refused(client: httpx.Client, station: tuple[Station, str]) -> None:
    _, key = station
    # Python's JSON writes NaN and Infinity literals; some loggers do too.
    body = json.dumps(
        {"readings": [{"time": shanghai(1), "values": {"nh3n": float("nan"), "tp": float("inf")}}]}
    )
    response = client.post(
        "/api/v1/readings",
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    reasons = [e["reason"] for e in response.json()["error"]["details"]]
    assert len(reasons) == 2
    assert all("finite" in r for r in reasons)


def test_authentication_and_authorisation(
    client: httpx.Client, seeded: Session, station: tuple[Station, str]
) -> None:
    _, key = station
    body = {"readings": [{"time": shanghai(1), "values": {"nh3n": 0.5}}]}
    assert client.post("/api/v1/readings", json=body).status_code == 401
    assert post(client, "rw_wrong", body).status_code == 401
    assert (
        client.post(
            "/api/v1/readings", json=body, headers={"Authorization": f"Basic {key}"}
        ).status_code
        == 401
    )
    stations.add_station(seeded, code="ST-OTHER", section_code="S01", name="other")
    seeded.commit()
    forbidden = post(client, key, {**body, "station": "ST-OTHER"})
    assert forbidden.status_code == 403
    assert post(client, key, {**body, "station": "ST-PQ"}).status_code == 200


def test_oversized_bodies_and_batches_get_413(
    client: httpx.Client, settings: Any, station: tuple[Station, str]
) -> None:
    _, key = station
    big = b'{"readings": [' + b" " * settings.max_body_bytes + b"]}"
    response = client.post(
        "/api/v1/readings",
        content=big,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413

    def chunks() -> Any:
        yield b'{"readings": ['
        for _ in range(settings.max_body_bytes // 1000 + 1):
            yield b" " * 1000
        yield b"]}"

    streamed = client.post(
        "/api/v1/readings",
        content=chunks(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413

    many = {
        "readings": [{"time": shanghai(1), "values": {"nh3n": 0.5}}]
        * (settings.max_batch_times + 1)
    }
    assert post(client, key, many).status_code == 413


def test_quality_control_flags_and_good_data_only_for_the_section_class(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    body = {
        "readings": [
            {"time": shanghai(2), "values": {"nh3n": 3.1, "tp": 0.1}, "flags": {"nh3n": "M"}},
            {"time": shanghai(1), "values": {"nh3n": 150.0, "tp": 0.1}},
        ]
    }
    answer = post(client, key, body).json()
    maintenance, out_of_range = answer["times"]
    assert maintenance["items"]["nh3n"]["qc_flag"] == 4
    # Stored, but a value that does not count shows no class, so it is not read as one.
    assert maintenance["items"]["nh3n"]["qc"] == "fail"
    assert maintenance["items"]["nh3n"]["counted"] is False
    assert maintenance["items"]["nh3n"]["water_class"] == 0
    assert maintenance["section_class"] == 2  # from TP alone: the NH3-N value is not good data
    assert out_of_range["items"]["nh3n"]["qc_flag"] == 4  # outside the plausible range
    rows = stored(session, st)
    assert rows["nh3n", datetime.fromisoformat(shanghai(2))].data_flag == "M"


def test_spike_is_judged_against_stored_neighbours(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    st.qc_overrides = {"nh3n": {"spike_suspect": 0.5, "spike_fail": 2.0}}
    session.commit()
    post(client, key, {"readings": [{"time": shanghai(3), "values": {"nh3n": 0.50}}]})
    post(client, key, {"readings": [{"time": shanghai(1), "values": {"nh3n": 0.52}}]})
    # Between two stored values near 0.5, a 1.5 is a spike of 0.99: suspect.
    answer = post(client, key, {"readings": [{"time": shanghai(2), "values": {"nh3n": 1.5}}]})
    assert answer.json()["times"][0]["items"]["nh3n"]["qc_flag"] == 3


def test_late_data_is_backfill(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    answer = post(
        client,
        key,
        {
            "readings": [
                {"time": shanghai(48), "values": {"nh3n": 1.9}},
                {"time": shanghai(1), "values": {"nh3n": 0.3}},
            ]
        },
    ).json()
    assert [t["backfill"] for t in answer["times"]] == [True, False]
    flags = (
        session.execute(
            text("SELECT backfill FROM readings WHERE station_id = :s ORDER BY time"), {"s": st.id}
        )
        .scalars()
        .all()
    )
    assert flags == [True, False]


def test_a_batch_with_nothing_good_is_422_and_stores_nothing(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    response = post(client, key, {"readings": [{"time": shanghai(1), "values": {"nh3n": -2}}]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == "every value was refused (1)"
    assert [(d["index"], d["field"]) for d in error["details"]] == [(0, "values.nh3n")]
    assert stored(session, st) == {}


def test_the_envelope_must_be_a_batch(client: httpx.Client, station: tuple[Station, str]) -> None:
    _, key = station
    assert post(client, key, {"nope": []}).status_code == 422
    assert (
        client.post(
            "/api/v1/readings",
            content=b"{not json",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        ).status_code
        == 400
    )
