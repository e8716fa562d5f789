"""GET /metrics scraped around a real ingest-to-alert flow: the counters move by exactly
what happened, as the service's own API and database tell it."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.test_alert_flow import wait_for, world  # noqa: F401  (fixture)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(http: httpx.Client, base: str) -> Samples:
    response = http.get(f"{base}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_follow_an_ingest_to_alert_flow(world: dict[str, Any]) -> None:  # noqa: F811
    http = httpx.Client(trust_env=False, timeout=10)
    base = world["base"]
    before = scrape(http, base)
    now = datetime.now(UTC).replace(microsecond=0)
    batch = {
        "readings": [
            {
                "time": (now - timedelta(minutes=1)).isoformat(),
                "values": {"nh3n": 2.65, "tp": 0.18},
            },
            {"time": (now - timedelta(minutes=2)).isoformat(), "values": {"nh3n": "many"}},
        ]
    }
    headers = {"Authorization": f"Bearer {world['key']}"}
    first = http.post(f"{base}/api/v1/readings", headers=headers, json=batch).json()
    assert (first["accepted"], first["refused"]) == (2, 1)
    wait_for(lambda: http.get(f"{world['gateway']}/messages").json())
    wait_for(lambda: http.get(f"{world['gateway']}/webhooks").json())
    # Both messages recorded as delivered before the second scrape.
    notifications = wait_for(
        lambda: (
            rows
            if (rows := http.get(f"{base}/api/v1/notifications").json())
            and all(n["status"] == "delivered" for n in rows)
            else None
        )
    )
    again = http.post(f"{base}/api/v1/readings", headers=headers, json=batch).json()
    assert again["duplicate"] == 2
    time.sleep(0.2)
    after = scrape(http, base)

    name = "riverwatch_readings_total"
    assert moved(before, after, name, outcome="accepted", path="http") == 2
    assert moved(before, after, name, outcome="duplicate", path="http") == 2
    assert moved(before, after, name, outcome="refused", path="http") == 2
    assert (
        moved(before, after, "riverwatch_readings_refused_total", reason="values", path="http") == 2
    )
    assert moved(before, after, "riverwatch_qc_flags_total", flag="good") == 4

    incidents = http.get(f"{base}/api/v1/incidents").json()
    opened = Counter((i["rule"], str(i["severity"])) for i in incidents)
    assert opened  # the class-V reading opened at least one
    for (rule, severity), count in opened.items():
        assert (
            moved(before, after, "riverwatch_incidents_opened_total", rule=rule, severity=severity)
            == count
        )
    assert moved(before, after, "riverwatch_evaluator_runs_total") >= 1
    assert moved(before, after, "riverwatch_evaluator_lag_seconds_count") >= 1

    sent = Counter(n["channel"] for n in notifications)
    assert sent == {"sms": 1, "webhook": 1}
    for channel, count in sent.items():
        attempts = "riverwatch_delivery_attempts_total"
        assert moved(before, after, attempts, channel=channel, outcome="delivered") == count
        latency = "riverwatch_delivery_latency_seconds_count"
        assert moved(before, after, latency, channel=channel) == count
        assert value(after, "riverwatch_outbox_messages", channel=channel, state="pending") == 0
        assert moved(before, after, "riverwatch_dead_letters_total", channel=channel) == 0
    assert moved(before, after, "riverwatch_job_duration_seconds_count", job="dispatch") >= 1
    assert value(after, "riverwatch_job_failures_total", job="dispatch") == 0


def test_metrics_need_the_token_when_one_is_set() -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app
    from core.settings import Environment, Settings

    token = "m" * 20
    app = create_app(
        Settings(env=Environment.TEST, database_url="postgresql://unused/x", metrics_token=token)
    )
    client = TestClient(app)  # no lifespan: refused before any database is needed
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
