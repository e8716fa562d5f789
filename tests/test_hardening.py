"""What an attacker or a careless client sends: every such request gets a clear 4xx in
the one error model, and nothing good is lost to something bad beside it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.smsgw.serve import serving
from app.deps import get_session
from app.main import create_app
from app.middleware import RequestContext
from app.stations import service as stations
from core.models import Reading, Station
from core.settings import Environment, Settings

API = "/api/v1"
TOKEN = "an-admin-token-of-some-length"


@pytest.fixture
def station(seeded: Session) -> tuple[Station, str]:
    added = stations.add_station(seeded, code="ST-H", section_code="S07", name="hardening")
    seeded.commit()
    return added


def ingest(client: httpx.Client, key: str, body: Any) -> httpx.Response:
    return client.post(f"{API}/readings", json=body, headers={"Authorization": f"Bearer {key}"})


def at(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{API}/contacts/2147483648"),
        ("GET", f"{API}/incidents/9223372036854775808"),
        ("GET", f"{API}/incidents?offset=9223372036854775808"),
        ("DELETE", f"{API}/mutes/183096257250564416"),
        ("GET", f"{API}/contacts/0"),
    ],
)
def test_integers_beyond_their_column_are_422(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid"


@pytest.mark.parametrize(
    "path",
    [
        f"{API}/stations?section=%00",
        f"{API}/sections/%00",
        f"{API}/status/sections/a%00b",
    ],
)
def test_nul_in_a_path_or_query_is_400(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert "NUL" in error_of(response)["message"]


def test_nul_in_a_body_is_400(client: httpx.Client, seeded: Session) -> None:
    response = client.post(f"{API}/contacts", json={"name": "a\x00b", "level": "county"})
    assert response.status_code == 400
    # An escaped backslash before u0000 is text, not a NUL: the request goes on.
    literal = client.post(
        f"{API}/contacts",
        content=json.dumps({"name": "a\\u0000b", "level": "county"}),
        headers={"content-type": "application/json"},
    )
    assert literal.status_code == 201, literal.text


def test_a_bad_item_never_costs_the_good_ones(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    body = (
        '{"readings": ['
        '{"time": "0001-01-01T00:00:00+08:00", "values": {"nh3n": 0.5}},'
        f'{{"time": "{at(2)}", "values": {{"tp": 1{"0" * 400}}}}},'
        '{"values": {"nh3n": 0.5}},'
        '"not an object",'
        '{"time": "2026-01-01T00:00:00+08:00", "values": [0.5]},'
        f'{{"time": "{at(1)}", "values": {{"nh3n": 0.61, "tp": 0.12}}}}'
        "]}"
    )
    response = client.post(
        f"{API}/readings",
        content=body,
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 2
    reasons = {e["index"]: e["reason"] for e in answer["errors"]}
    assert "before 1901" in reasons[0]
    assert reasons[1] == "number out of range"
    assert "ISO 8601" in reasons[2]
    assert "object" in reasons[3]
    assert "non-empty object" in reasons[4]
    assert answer["refused"] == 5  # never 0 beside a listed refusal
    stored = session.scalars(select(Reading.value).where(Reading.station_id == st.id)).all()
    assert sorted(stored) == [0.12, 0.61]


def test_a_far_future_time_is_said_for_people(
    client: httpx.Client, station: tuple[Station, str]
) -> None:
    _, key = station
    answer = ingest(
        client,
        key,
        {
            "readings": [
                {"time": "2099-01-01T00:00:00+08:00", "values": {"nh3n": 0.5}},
                {"time": at(1), "values": {"nh3n": 0.5}},
            ]
        },
    ).json()
    reason = answer["errors"][0]["reason"]
    assert reason.startswith("time is 72 years ahead of the server's clock"), reason
    assert "days," not in reason


@pytest.mark.parametrize(
    "query",
    [
        "start=2026-01-01T00:00:00%2B08:00&end=9999-12-31T00:00:00%2B00:00",
        "start=0001-01-01T00:00:00%2B00:00&end=2026-01-01T00:00:00%2B08:00",
    ],
)
def test_extreme_dates_on_series_are_422(
    client: httpx.Client, station: tuple[Station, str], query: str
) -> None:
    response = client.get(f"{API}/stations/ST-H/readings?parameter=nh3n&{query}")
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"].startswith("query.")


def test_a_mute_in_year_9999_is_422(client: httpx.Client, seeded: Session) -> None:
    response = client.post(
        f"{API}/mutes",
        json={
            "section": "S07",
            "starts_at": "2026-12-01T00:00:00+08:00",
            "ends_at": "9999-12-31T23:00:00-14:00",
        },
    )
    assert response.status_code == 422


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "1e400"])
def test_non_finite_numbers_in_settings_are_422(client: httpx.Client, raw: str) -> None:
    rules = client.patch(
        f"{API}/rules/station_silent",
        content=f'{{"silent_factor": {raw}}}',
        headers={"content-type": "application/json"},
    )
    assert rules.status_code == 422, rules.text
    assert error_of(rules)["details"][0]["field"] == "body.silent_factor"


def test_escalation_delays_are_bounded_and_strict(client: httpx.Client, seeded: Session) -> None:
    url = f"{API}/sections/S07/escalation"
    for delay in (2**40, False, "5", 1e400):
        body = json.dumps([{"tier": 1, "delay_s": delay}]) if delay != 1e400 else None
        content = body or '[{"tier": 1, "delay_s": 1e400}]'
        response = client.put(url, content=content, headers={"content-type": "application/json"})
        assert response.status_code == 422, (delay, response.text)
    assert client.put(url, json=[{"tier": 1, "delay_s": 0}]).status_code == 200


def test_booleans_are_not_coerced(client: httpx.Client, seeded: Session) -> None:
    made = client.post(f"{API}/contacts", json={"name": "钱河长", "level": "county"})
    contact = made.json()["id"]
    for active in (0, "false", None):
        patched = client.patch(f"{API}/contacts/{contact}", json={"active": active})
        assert patched.status_code in (422, 200)
        if active is not None:
            assert patched.status_code == 422
    assert client.get(f"{API}/contacts/{contact}").json()["active"] is True


@pytest.fixture
def guarded(database_url: str, session: Session) -> Iterator[str]:
    app = create_app(
        Settings(
            env=Environment.TEST,
            database_url=database_url,
            scheduler=False,
            admin_token=SecretStr(TOKEN),
            webhook_allow_internal=False,
        )
    )

    def test_session() -> Iterator[Session]:
        yield session

    app.dependency_overrides[get_session] = test_session
    with serving(app, lifespan="on") as url:
        yield url


def test_a_large_body_without_credentials_is_refused_before_it_is_read(guarded: str) -> None:
    big = b'{"name": "' + b"x" * (64 * 1024 * 1024) + b'"}'
    started = time.perf_counter()
    with httpx.Client(base_url=guarded, trust_env=False, timeout=30) as client:
        anonymous = client.post(
            f"{API}/contacts", content=big, headers={"content-type": "application/json"}
        )
        malformed = client.post(
            f"{API}/contacts", content=b"{nope", headers={"content-type": "application/json"}
        )
        too_big = client.post(
            f"{API}/contacts",
            content=big,
            headers={"content-type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        )
    assert anonymous.status_code == 401
    assert malformed.status_code == 401  # who asks is settled before what is asked
    assert too_big.status_code == 413
    assert error_of(too_big)["code"] == "payload_too_large"
    # Refused from the headers: 64 MB were never parsed (they took 2.6 s before).
    assert time.perf_counter() - started < 60


def test_many_empty_items_are_refused_by_count_first(
    client: httpx.Client, station: tuple[Station, str], settings: Settings
) -> None:
    _, key = station
    body = '{"readings": [' + ",".join(["{}"] * 100_000) + "]}"
    response = client.post(
        f"{API}/readings",
        content=body,
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert len(response.content) < 2000
    assert str(settings.max_batch_times) in error_of(response)["message"]


def test_error_details_are_capped_with_a_count_of_the_rest(
    client: httpx.Client, station: tuple[Station, str]
) -> None:
    _, key = station
    response = ingest(client, key, {"readings": [{"time": at(1)}] * 300})
    error = error_of(response)
    assert response.status_code == 422
    assert (len(error["details"]), error["details_omitted"]) == (100, 200)


def test_webhooks_inside_the_network_are_refused_in_production_settings(
    guarded: str, seeded: Session
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=guarded, trust_env=False, timeout=30, headers=auth) as client:
        contact = client.post(f"{API}/contacts", json={"name": "孙", "level": "office"}).json()
        for url in (
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:8080/x",
            "http://10.1.2.3/x",
            "http://[::1]/x",
            "http://localhost/x",
        ):
            refused = client.post(f"{API}/contacts/{contact['id']}/webhooks", json={"url": url})
            assert refused.status_code == 400, url
            assert "inside this network" in error_of(refused)["message"]


def test_sub_second_times_are_one_reading(
    client: httpx.Client, session: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    base = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    same = [base.isoformat(), (base + timedelta(milliseconds=400)).isoformat()]
    first = ingest(client, key, {"readings": [{"time": same[0], "values": {"nh3n": 0.5}}]})
    second = ingest(client, key, {"readings": [{"time": same[1], "values": {"nh3n": 0.5}}]})
    assert (first.json()["accepted"], second.json()["duplicate"]) == (1, 1)
    # Readings stored before times were kept to the second may share one: a later batch
    # whose QC context spans them is still judged.
    session.execute(
        text(
            "INSERT INTO readings (station_id, parameter_id, time, value, qc_flag) "
            "SELECT :st, 6, :t, 0.5, 1"
        ),
        {"st": st.id, "t": base + timedelta(minutes=10, milliseconds=400)},
    )
    session.execute(
        text(
            "INSERT INTO readings (station_id, parameter_id, time, value, qc_flag) "
            "SELECT :st, 6, :t, 0.5, 1"
        ),
        {"st": st.id, "t": base + timedelta(minutes=10)},
    )
    session.commit()
    later = ingest(client, key, {"readings": [{"time": at(2.5), "values": {"nh3n": 0.52}}]})
    assert later.status_code == 200, later.text
    assert later.json()["accepted"] == 1


def test_an_unexpected_error_is_one_model_and_logs_no_parameters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()

    @app.get("/boom")
    def boom() -> None:
        raise IntegrityError(
            "INSERT INTO contacts (phone) VALUES (%(phone)s)",
            {"phone": "13800138000"},
            Exception("duplicate key value: Key (phone)=(13800138000) already exists"),
        )

    app.add_middleware(RequestContext)
    with (
        caplog.at_level(logging.ERROR, logger="riverwatch.http"),
        serving(app) as url,
        httpx.Client(base_url=url, trust_env=False) as client,
    ):
        response = client.get("/boom", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.json()["error"]["request_id"] == "req-42"
    assert response.json()["error"]["code"] == "internal_error"
    logged = caplog.text
    assert "req-42" in logged
    assert "IntegrityError" in logged
    assert "13800138000" not in logged
