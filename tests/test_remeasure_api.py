"""Re-measure through the incident API over real HTTP: an HTTP station is awaited (its next
reading is due an interval after its last), a connected HJ 212 logger is sent 3012; the
incident shows its confirmation and re-measure state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import incidents as lifecycle
from alerts.incidents import Severity, Subject
from alerts.models import Incident
from app.main import API_PREFIX as API
from app.stations import service as stations
from core.models import Hj212Link, Reading, Section, Station
from sensors.parameters import BY_CODE
from sensors.qc import QCFlag

NOW = datetime.now(UTC).replace(microsecond=0)


def warned(session: Session, station: Station, at: datetime) -> Incident:
    session.add(
        Reading(
            station_id=station.id,
            parameter_id=BY_CODE["nh3n"].id,
            time=at,
            value=1.85,
            water_class=5,
            qc_flag=QCFlag.SUSPECT,
        )
    )
    section = session.scalars(select(Section).where(Section.id == station.section_id)).one()
    incident, _ = lifecycle.raise_or_update(
        session,
        Subject("class_v", section.id),
        severity=Severity.MAJOR,
        details={"station": station.code, "time": int(at.timestamp()), "indicator": "nh3n",
                 "items": {"nh3n": {"value": 1.85, "class": 5}}, "class": 5, "qc": "suspect"},
        at=NOW,
    )  # fmt: skip
    incident.confirmation = "unconfirmed"
    session.commit()
    return incident


def test_an_http_station_is_awaited_until_its_next_reading(
    client: httpx.Client, seeded: Session
) -> None:
    station, _ = stations.add_station(
        seeded, code="ST-RM", section_code="S07", name="re-measure", reporting_interval_s=3600
    )
    at = NOW - timedelta(minutes=10)
    incident = warned(seeded, station, at)

    body = client.get(f"{API}/incidents/{incident.id}").json()
    assert body["confirmation"] == "unconfirmed"
    assert body["remeasure"]["via"] == "next_reading"
    due = datetime.fromisoformat(body["remeasure"]["next_reading_due"])
    assert due == at + timedelta(hours=1)

    asked = client.post(f"{API}/incidents/{incident.id}/remeasure")
    assert asked.status_code == 202, asked.text
    assert asked.json()["via"] == "next_reading"
    assert asked.json()["commands"] == []
    events = client.get(f"{API}/incidents/{incident.id}").json()["events"]
    (awaiting,) = [e for e in events if e["kind"] == "awaiting_next_reading"]
    assert datetime.fromisoformat(awaiting["details"]["due"]) == due

    assert client.post(f"{API}/incidents/999999999/remeasure").status_code == 404
    client.post(f"{API}/incidents/{incident.id}/resolve", json={"force": True})
    late = client.post(f"{API}/incidents/{incident.id}/remeasure")
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "conflict"


def test_a_connected_logger_is_sent_3012(client: httpx.Client, seeded: Session) -> None:
    station, _ = stations.add_station(
        seeded, code="ST-RM2", section_code="S07", name="re-measure", mn="0100RMAPI000000000000001"
    )
    seeded.add(Hj212Link(station_id=station.id, connected=True, version="2017"))
    incident = warned(seeded, station, NOW - timedelta(minutes=5))

    asked = client.post(f"{API}/incidents/{incident.id}/remeasure")
    assert asked.status_code == 202, asked.text
    answer = asked.json()
    assert answer["via"] == "hj212"
    assert answer["next_reading_due"] is None
    ((command),) = answer["commands"]
    assert (command["cn"], command["cp"], command["state"]) == ("3012", "PolId=w21003", "queued")
    body = client.get(f"{API}/incidents/{incident.id}").json()
    (requested,) = [e for e in body["events"] if e["kind"] == "remeasure_requested"]
    assert requested["details"]["qn"] == command["qn"]
    assert body["remeasure"]["commands"][0]["qn"] == command["qn"]


def test_an_incident_naming_no_station_cannot_be_remeasured(
    client: httpx.Client, seeded: Session
) -> None:
    section = seeded.scalars(select(Section).where(Section.code == "S05")).one()
    incident, _ = lifecycle.raise_or_update(
        seeded, Subject("class_v", section.id), severity=Severity.MAJOR, details={}, at=NOW
    )
    seeded.commit()
    answer = client.post(f"{API}/incidents/{incident.id}/remeasure")
    assert answer.status_code == 409
    assert client.get(f"{API}/incidents/{incident.id}").json()["remeasure"]["station"] is None
