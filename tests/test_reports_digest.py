"""The daily digest's section figures are the sections report's: same evaluation, same
period (yesterday in Beijing), the same figures as GET /api/v1/reports/sections."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from alerts import contacts
from alerts import incidents as lifecycle
from alerts.digest import send_daily_digest
from alerts.incidents import Severity, Subject
from alerts.models import OutboxMessage
from app.reports import service as reports
from app.scheduler import policy_for
from app.stations import service as stations
from core.models import Section
from core.settings import Environment, Settings
from sensors.parameters import BY_CODE

NOW = datetime(2026, 7, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai: yesterday is 07-01

# Beijing times. 蒲岐 (S07): NH3-N (1.2 + 1.3) / 2 = 1.25, class IV, 0.25 over class III;
# the other four platform items in class II or better. 码道 (S06): NH3-N 1.8, class V.
READINGS = {
    "S07": [
        ("2026-07-01 00:00", "nh3n", 1.2),
        ("2026-07-01 23:00", "nh3n", 1.3),
        ("2026-06-30 23:00", "nh3n", 5.0),  # the day before: not counted
        ("2026-07-02 00:00", "nh3n", 5.0),  # today: not counted
        *[
            (f"2026-07-01 {h:02d}:00", code, value)
            for h in (3, 4)
            for code, value in (("ph", 7.5), ("do", 7.0), ("codmn", 3.0), ("tp", 0.05))
        ],
    ],
    "S06": [("2026-07-01 12:00", "nh3n", 1.8)],
}


def test_the_digest_figures_are_the_sections_report(seeded: Session, client: httpx.Client) -> None:
    for code, rows in READINGS.items():
        station, _ = stations.add_station(seeded, code=f"RD-{code}", section_code=code, name=code)
        seeded.execute(
            text(
                "INSERT INTO readings (station_id, parameter_id, time, value, qc_flag) VALUES"
                " (:s, :p, CAST(:t AS timestamp) AT TIME ZONE 'Asia/Shanghai', :v, 1)"
            ),
            [{"s": station.id, "p": BY_CODE[c].id, "t": t, "v": v} for t, c, v in rows],
        )
        section_id = seeded.scalars(select(Section.id).where(Section.code == code)).one()
        severity = Severity.CRITICAL if code == "S06" else Severity.MAJOR
        lifecycle.raise_or_update(
            seeded, Subject("class_v", section_id), severity=severity, details={}, at=NOW
        )
    office = contacts.create_contact(seeded, name="治水办", level="office", phone="13700000000")
    contacts.add_webhook(seeded, office.id, "http://127.0.0.1:9/office", allow_internal=True)
    seeded.commit()

    policy = policy_for(Settings(env=Environment.TEST, quiet_hours=""))
    assert send_daily_digest(seeded, policy, NOW, reports.digest_figures) == 2
    sms, webhook = (
        seeded.scalars(select(OutboxMessage).where(OutboxMessage.channel == channel)).one()
        for channel in ("sms", "webhook")
    )
    assert sms.text == (
        "07月02日水质日报：未解除预警2起（严重1起），"
        "码道（昨日Ⅴ类，氨氮(0.8)）、蒲岐（昨日Ⅳ类，氨氮(0.25)）。"
    )

    response = client.get("/api/v1/reports/sections", params={"period": "2026-07-01..2026-07-01"})
    assert response.status_code == 200, response.text
    (table,) = response.json()["tables"]
    by_code = {r["code"]: r for r in table["rows"]}
    figures = webhook.payload["figures"]
    assert set(figures) == {"S06", "S07"}
    for code, got in figures.items():
        row = by_code[code]
        assert got == {
            "period": row["period"],
            "class": row["class"],
            "main_pollutants_iii": row["main_pollutants_iii"],
            "samples": row["samples"],
            "capture": row["capture"],
        }
    assert (figures["S07"]["class"], figures["S07"]["samples"]) == ("Ⅳ", 2)
    # Two of 24 hourly pH, DO, CODMn and TP values (reports round capture to 6 places).
    assert figures["S07"]["capture"] == pytest.approx(2 / 24, abs=5e-7)
