"""Rule configuration, per-station QC overrides and the daily digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import contacts
from alerts import incidents as lifecycle
from alerts.digest import send_daily_digest
from alerts.incidents import Severity, Subject
from alerts.models import OutboxMessage
from app.reports import service as reports
from app.scheduler import policy_for
from app.stations import service as stations
from core.errors import BadRequest
from core.models import Section
from core.settings import Environment, Settings
from tests.test_cli import run


def test_rules_are_listed_and_changed_over_http(seeded: Session, client: httpx.Client) -> None:
    rules = {r["code"]: r for r in client.get("/api/v1/rules").json()}
    assert set(rules) == {"class_v", "target_miss", "station_silent"}
    assert rules["class_v"]["persistence"] == "first"

    changed = client.patch(
        "/api/v1/rules/class_v", json={"persistence": "consecutive", "consecutive": 4}
    )
    assert changed.status_code == 200
    assert (changed.json()["persistence"], changed.json()["consecutive"]) == ("consecutive", 4)

    bad = client.patch("/api/v1/rules/class_v", json={"persistence": "sometimes"})
    assert bad.status_code == 400
    assert "persistence must be" in bad.json()["error"]["message"]
    assert client.patch("/api/v1/rules/class_v", json={"colour": "red"}).status_code == 422
    assert client.patch("/api/v1/rules/nope", json={"hold_s": 10}).status_code == 404


def test_early_warning_and_hysteresis_settings_over_http(
    seeded: Session, client: httpx.Client
) -> None:
    rule = next(r for r in client.get("/api/v1/rules").json() if r["code"] == "class_v")
    assert (rule["unconfirmed"], rule["unconfirmed_tier1"]) == (True, False)
    assert (rule["clear_margin"], rule["clear_readings"]) == (0.05, 1)
    body = {"unconfirmed_tier1": True, "clear_margin": 0.1, "clear_readings": 3}
    changed = client.patch("/api/v1/rules/class_v", json=body)
    assert changed.status_code == 200, changed.text
    assert {k: changed.json()[k] for k in body} == body
    for wrong in ({"clear_margin": 0.9}, {"clear_readings": 0}, {"unconfirmed": "yes"}):
        assert client.patch("/api/v1/rules/class_v", json=wrong).status_code == 422, wrong


def test_qc_overrides_are_validated_and_merged(seeded: Session) -> None:
    stations.add_station(seeded, code="ST-Q", section_code="S07", name="q")
    assert stations.set_qc_overrides(seeded, "ST-Q", "nh3n", {"spike_suspect": 0.5}) == {
        "spike_suspect": 0.5
    }
    merged = stations.set_qc_overrides(seeded, "ST-Q", "nh3n", {"rate_per_hour": None})
    assert merged == {"spike_suspect": 0.5, "rate_per_hour": None}
    assert stations.get_station(seeded, "ST-Q").qc_overrides == {"nh3n": merged}
    with pytest.raises(BadRequest, match="spike"):
        stations.set_qc_overrides(seeded, "ST-Q", "nh3n", {"spikes": 1.0})
    with pytest.raises(BadRequest, match="unknown parameter"):
        stations.set_qc_overrides(seeded, "ST-Q", "xyz", {"spike_suspect": 1.0})


def test_daily_digest_tells_the_offices_what_is_open(seeded: Session) -> None:
    policy = policy_for(Settings(env=Environment.TEST, quiet_hours=""))
    now = datetime(2026, 7, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert (
        send_daily_digest(seeded, policy, now, reports.digest_figures) == 0
    )  # nothing open: nothing sent

    office = contacts.create_contact(seeded, name="治水办", level="office", phone="13700000000")
    contacts.add_webhook(seeded, office.id, "http://127.0.0.1:9/office", allow_internal=True)
    for code, severity in (("S06", Severity.CRITICAL), ("S07", Severity.MAJOR)):
        section_id = seeded.scalars(select(Section.id).where(Section.code == code)).one()
        lifecycle.raise_or_update(
            seeded, Subject("class_v", section_id), severity=severity, details={}, at=now
        )
    assert send_daily_digest(seeded, policy, now, reports.digest_figures) == 2
    sms = seeded.scalars(select(OutboxMessage).where(OutboxMessage.channel == "sms")).one()
    # No readings yesterday: the sections are named without figures.
    assert sms.text == (
        "07月02日水质日报：未解除预警2起（严重1起），码道（昨日无评价数据）、蒲岐（昨日无评价数据）。"
    )
    # Another replica's scheduler fires the same job: the day's digest is written once.
    assert send_daily_digest(seeded, policy, now, reports.digest_figures) == 0
    assert send_daily_digest(seeded, policy, now + timedelta(days=1), reports.digest_figures) == 2


def test_rule_cli(cli_env: dict[str, str]) -> None:
    assert run(cli_env, "db", "upgrade").returncode == 0
    changed = run(cli_env, "rule", "set", "class_v", "persistence=consecutive", "consecutive=3")
    assert changed.returncode == 0, changed.stderr
    listed = run(cli_env, "rule", "list").stdout
    assert "class_v\ton\tconsecutive\tconsecutive=3" in listed
    refused = run(cli_env, "rule", "set", "class_v", "hold_s=-1")
    assert refused.returncode == 1
    assert "hold_s must be" in refused.stderr
