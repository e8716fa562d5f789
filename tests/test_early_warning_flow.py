"""Early warning end to end: a suspect class-V jump posted over HTTP reaches operations as
an unconfirmed warning through the service's own scheduler (ingest wakes the evaluator,
which wakes the dispatcher: the evaluate interval is a minute, far longer than the wait
here), and the next good, clean reading withdraws it. Real servers on 127.0.0.1, a
database of its own."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session

from alerts import contacts
from alerts.channels.webhook import new_secret
from alerts.smsgw.app import create_app as create_gateway
from alerts.smsgw.serve import serving
from app import migrate
from app.main import create_app
from app.stations import service as stations
from core import catalogue
from core.db import make_engine
from core.settings import Environment, Settings
from tests.conftest import fresh_database
from tests.test_alert_flow import wait_for

GATEWAY_KEY = "gateway-test-key"
SECRET = new_secret()


@pytest.fixture
def world(server_url: str) -> Iterator[dict[str, Any]]:
    with (
        fresh_database(server_url, f"riverwatch_early_{os.getpid()}") as url,
        serving(create_gateway(GATEWAY_KEY, webhook_secrets=[SECRET])) as gateway,
    ):
        engine = make_engine(url, pool_size=2)
        migrate.upgrade(engine)
        with Session(engine) as session, session.begin():
            catalogue.sync_parameters(session)
            catalogue.seed_plan(session)
            # Default QC: an hourly jump of 1.25 mg/L NH3-N is suspect.
            _, key = stations.add_station(session, code="ST-1", section_code="S07", name="蒲岐")
            ops = contacts.create_contact(session, name="运维值班", level="operations", phone=None)
            contacts.assign(session, "S07", ops.id, 1)
            contacts.add_webhook(
                session, ops.id, f"{gateway}/webhook", secret=SECRET, allow_internal=True
            )
            chief = contacts.create_contact(
                session, name="蒲岐村河长", level="village", phone="13812345678"
            )
            contacts.assign(session, "S07", chief.id, 1)
        engine.dispose()
        settings = Settings(
            env=Environment.TEST,
            database_url=url,
            secret_key=SecretStr("early-test-secret"),
            sms_url=f"{gateway}/sms/send",
            sms_api_key=SecretStr(GATEWAY_KEY),
            quiet_hours="",
            evaluate_interval_s=60,  # only the ingest wake-up can be fast enough
        )
        with serving(create_app(settings), lifespan="on") as base:
            yield {"base": base, "gateway": gateway, "key": key}


def test_a_suspect_jump_warns_operations_then_a_clean_reading_withdraws_it(
    world: dict[str, Any],
) -> None:
    http = httpx.Client(trust_env=False, timeout=10)
    now = datetime.now(UTC).replace(microsecond=0)

    def post(at: datetime, nh3n: float) -> None:
        reading = {"time": at.isoformat(), "values": {"nh3n": nh3n}}
        response = http.post(
            f"{world['base']}/api/v1/readings",
            headers={"Authorization": f"Bearer {world['key']}"},
            json={"readings": [reading]},
        )
        assert response.status_code == 200, response.text

    def hooks(kind: str) -> list[dict[str, Any]]:
        got = [json.loads(h["body"]) for h in http.get(f"{world['gateway']}/webhooks").json()]
        return [b for b in got if b["type"] == kind]

    post(now - timedelta(hours=2), 0.6)
    post(now - timedelta(hours=1), 1.85)
    (warning,) = wait_for(lambda: hooks("alert.unconfirmed"))
    assert warning["data"]["confirmation"] == "unconfirmed"
    assert warning["data"]["section"] == "蒲岐"
    assert warning["data"]["class"] == "Ⅴ"
    incidents = http.get(f"{world['base']}/api/v1/incidents").json()
    (incident,) = [i for i in incidents if i["rule"] == "class_v"]
    assert incident["confirmation"] == "unconfirmed"

    post(now - timedelta(minutes=1), 1.0)  # good: 0.85 an hour down, class III
    (withdrawn,) = wait_for(lambda: hooks("alert.not_confirmed"))
    assert withdrawn["data"]["incident_id"] == incident["id"]
    detail = http.get(f"{world['base']}/api/v1/incidents/{incident['id']}").json()
    assert (detail["state"], detail["confirmation"]) == ("resolved", "not_confirmed")
    assert detail["remeasure"]["via"] == "next_reading"
    kinds = [e["kind"] for e in detail["events"]]
    assert "awaiting_next_reading" in kinds
    # The chief was never told: unconfirmed warnings go to operations by default.
    assert http.get(f"{world['gateway']}/messages").json() == []
    assert hooks("alert.class_v") == []
