"""The spine, end to end: a class-V reading posted over HTTP reaches the river chief as a
signed webhook and an SMS, through the service's own scheduler, and the SMS link
acknowledges the incident. Real servers on 127.0.0.1, a database of its own."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
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

GATEWAY_KEY = "gateway-test-key"
SECRET = new_secret()


def settings_public_url() -> str:
    return Settings().public_url + "/ack/"


def wait_for(check: Callable[[], Any], seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def world(server_url: str) -> Iterator[dict[str, Any]]:
    with (
        fresh_database(server_url, f"riverwatch_flow_{os.getpid()}") as url,
        serving(create_gateway(GATEWAY_KEY, webhook_secrets=[SECRET])) as gateway,
    ):
        engine = make_engine(url, pool_size=2)
        migrate.upgrade(engine)
        with Session(engine) as session, session.begin():
            catalogue.sync_parameters(session)
            catalogue.seed_plan(session)
            _, key = stations.add_station(session, code="ST-1", section_code="S07", name="蒲岐")
            chief = contacts.create_contact(
                session, name="蒲岐村河长", level="village", phone="13812345678"
            )
            contacts.assign(session, "S07", chief.id, 1)
            contacts.add_webhook(
                session, chief.id, f"{gateway}/webhook", secret=SECRET, allow_internal=True
            )
        engine.dispose()
        settings = Settings(
            env=Environment.TEST,
            database_url=url,
            secret_key=SecretStr("flow-test-secret"),
            sms_url=f"{gateway}/sms/send",
            sms_api_key=SecretStr(GATEWAY_KEY),
            quiet_hours="",
            evaluate_interval_s=60,  # only the ingest wake-up can be fast enough
        )
        with serving(create_app(settings), lifespan="on") as base:
            yield {"base": base, "gateway": gateway, "key": key}


def test_class_v_reading_reaches_the_chief_by_webhook_and_sms(world: dict[str, Any]) -> None:
    http = httpx.Client(trust_env=False, timeout=10)
    now = datetime.now(UTC).replace(microsecond=0)
    response = http.post(
        f"{world['base']}/api/v1/readings",
        headers={"Authorization": f"Bearer {world['key']}"},
        json={
            "readings": [
                {
                    "time": (now - timedelta(minutes=1)).isoformat(),
                    "values": {"nh3n": 2.65, "tp": 0.18},
                }
            ]
        },
    )
    assert response.status_code == 200, response.text
    posted = time.monotonic()

    hooks = wait_for(lambda: http.get(f"{world['gateway']}/webhooks").json())
    latency = time.monotonic() - posted
    (hook,) = hooks
    assert hook["valid"], hook["error"]
    body = json.loads(hook["body"])
    assert body["type"] == "alert.class_v"
    assert body["data"]["section"] == "蒲岐"
    assert body["data"]["class"] == "劣Ⅴ"
    assert latency < 10

    (sms,) = wait_for(lambda: http.get(f"{world['gateway']}/messages").json())
    text = sms["request"]["text"]
    assert text.startswith("【水质预警】蒲岐断面")
    assert "氨氮2.650mg/L，为劣Ⅴ类，目标Ⅲ类" in text
    assert sms["request"]["phone"] == "13812345678"
    assert sms["request"]["client_msg_id"] != hook["webhook_id"]  # one key per message

    incidents = http.get(f"{world['base']}/api/v1/incidents").json()
    (incident,) = [i for i in incidents if i["rule"] == "class_v"]
    assert incident["state"] == "open"

    # The chief taps the link in the SMS.
    link = body["data"]["ack_url"]
    assert link.startswith(settings_public_url())
    _, _, token = link.partition("/ack/")
    assert http.post(f"{world['base']}/ack/{token}").status_code == 200
    detail = http.get(f"{world['base']}/api/v1/incidents/{incident['id']}").json()
    assert detail["state"] == "acknowledged"
