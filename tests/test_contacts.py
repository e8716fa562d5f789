"""Contacts, routes, escalation, mute windows and the CSV import: service, HTTP and CLI."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import contacts as service
from alerts.models import Contact, SectionContact, WebhookEndpoint
from app.contacts.importer import decode_csv, import_contacts_csv, import_contacts_text
from app.stations import service as stations
from core.catalogue import get_section
from core.errors import BadRequest, Conflict, NotFound

API = "/api/v1"


def _counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(Contact)) or 0,
        session.scalar(select(func.count()).select_from(SectionContact)) or 0,
        session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0,
    )


# --- service ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("+8619912345678", "19912345678"),
    ],
)
def test_phone_is_normalised(given: str, stored: str) -> None:
    assert service.normalise_phone(given) == stored


@pytest.mark.parametrize(
    "phone", ["12345678901", "1380013800", "138001380001", "0577-88123456", "+85213800138000"]
)
def test_bad_phones_are_refused_with_a_reason(phone: str) -> None:
    with pytest.raises(BadRequest, match="not a mainland mobile number"):
        service.normalise_phone(phone)


def test_create_update_and_deactivate(session: Session) -> None:
    chief = service.create_contact(session, name="王河长", level="township", phone="+8613800138000")
    assert (chief.phone, chief.active) == ("13800138000", True)
    with pytest.raises(Conflict):
        service.create_contact(session, name="王河长", level="county", phone="13800138000")
    with pytest.raises(BadRequest, match="level 'mayor'"):
        service.create_contact(session, name="x", level="mayor", phone=None)

    service.update_contact(session, chief.id, level="county")
    assert (chief.level, chief.phone) == ("county", "13800138000")  # phone left as is
    service.update_contact(session, chief.id, phone=None)
    assert chief.phone is None
    assert service.deactivate_contact(session, chief.id).active is False
    with pytest.raises(NotFound):
        service.update_contact(session, 999_999, name="nobody")


def test_routes_by_tier_and_operations_apart(seeded: Session) -> None:
    s07 = get_section(seeded, "S07")
    liaison = service.create_contact(seeded, name="联络员", level="liaison", phone="13900000001")
    county = service.create_contact(seeded, name="县河长", level="county", phone="13900000002")
    ops = service.create_contact(seeded, name="运维", level="operations", phone="13900000003")
    gone = service.create_contact(seeded, name="离任", level="village", phone="13900000004")
    service.assign(seeded, "S07", county.id, 2)
    service.assign(seeded, "S07", liaison.id, 1)
    service.assign(seeded, "S07", ops.id, 1)
    service.assign(seeded, "S07", gone.id, 1)
    service.add_webhook(seeded, liaison.id, "https://hooks.example.cn/rw")
    service.deactivate_contact(seeded, gone.id)

    routes = service.routes_for(seeded, s07.id)
    assert [(c.name, tier) for c, tier in routes] == [("联络员", 1), ("县河长", 2)]
    assert [e.url for e in routes[0][0].endpoints] == ["https://hooks.example.cn/rw"]
    assert [c.name for c in service.operations_contacts(seeded, s07.id)] == ["运维"]
    assert service.routes_for(seeded, get_section(seeded, "S01").id) == []

    service.assign(seeded, "S07", county.id, 1)  # moved, not duplicated
    assert [t for _, t in service.routes_for(seeded, s07.id)] == [1, 1]
    service.unassign(seeded, "S07", county.id)
    with pytest.raises(NotFound):
        service.unassign(seeded, "S07", county.id)
    with pytest.raises(BadRequest, match="tier"):
        service.assign(seeded, "S07", county.id, 10)
    with pytest.raises(NotFound, match="S99"):
        service.assign(seeded, "S99", county.id, 1)


def test_escalation_replaces_and_validates(seeded: Session) -> None:
    s07 = get_section(seeded, "S07")
    service.set_escalation(seeded, "S07", [(2, 1800), (1, 0), (3, 7200)])
    assert service.escalation_delays(seeded, s07.id) == {1: 0, 2: 1800, 3: 7200}
    service.set_escalation(seeded, "S07", [(1, 0), (2, 600)])
    assert service.escalation_delays(seeded, s07.id) == {1: 0, 2: 600}
    for bad, reason in [
        ([(1, 0), (3, 60)], "without gaps"),
        ([(2, 0)], "without gaps"),
        ([(1, 0), (1, 60)], "without gaps"),
        ([(1, 600), (2, 60)], "must not decrease"),
        ([(1, -1)], "≥ 0"),
        ([(t, 60 * t) for t in range(1, 11)], "n ≤ 9"),
    ]:
        with pytest.raises(BadRequest, match=reason):
            service.set_escalation(seeded, "S07", bad)
    assert service.escalation_delays(seeded, s07.id) == {1: 0, 2: 600}  # untouched
    service.set_escalation(seeded, "S07", [])
    assert service.escalation_delays(seeded, s07.id) == {}


def test_mute_windows_naive_is_shanghai_start_inclusive_end_exclusive(seeded: Session) -> None:
    station, _ = stations.add_station(seeded, code="ST-M", section_code="S07", name="x")
    other, _ = stations.add_station(seeded, code="ST-O", section_code="S01", name="y")
    s07 = get_section(seeded, "S07").id
    mute = service.create_mute(
        seeded,
        section_code="S07",
        starts_at=datetime(2030, 5, 1, 8, 0),  # Shanghai 08:00 = 00:00 UTC
        ends_at=datetime(2030, 5, 1, 18, 0),
        reason="planned maintenance",
    )
    start, end = datetime(2030, 5, 1, 0, 0, tzinfo=UTC), datetime(2030, 5, 1, 10, 0, tzinfo=UTC)
    assert (mute.starts_at, mute.ends_at) == (start, end)

    def muted(at: datetime, section: int | None = s07, station_id: int | None = None) -> bool:
        return service.is_muted(seeded, section_id=section, station_id=station_id, at=at)

    assert muted(start)
    assert muted(end - timedelta(seconds=1))
    assert not muted(end)
    assert not muted(start - timedelta(seconds=1))
    assert muted(datetime(2030, 5, 1, 9, 0))  # naive `at` is Shanghai time too
    # A section's window mutes its stations, found from the station alone.
    assert muted(start, section=None, station_id=station.id)
    assert not muted(start, section=None, station_id=other.id)

    service.create_mute(
        seeded, station_code="ST-O", starts_at=start, ends_at=end, reason="sensor swap"
    )
    assert muted(start, section=None, station_id=other.id)
    # A station's window does not silence its section's own alerts.
    assert not muted(start, section=get_section(seeded, "S01").id)
    assert not muted(start, section=None, station_id=None)


def test_mute_window_input_errors(seeded: Session) -> None:
    at = datetime(2030, 1, 1, 8, 0)
    hour = timedelta(hours=1)
    with pytest.raises(BadRequest, match="exactly one"):
        service.create_mute(seeded, starts_at=at, ends_at=at + hour)
    with pytest.raises(BadRequest, match="exactly one"):
        service.create_mute(
            seeded, section_code="S07", station_code="X", starts_at=at, ends_at=at + hour
        )
    with pytest.raises(BadRequest, match="end after"):
        service.create_mute(seeded, section_code="S07", starts_at=at, ends_at=at)
    with pytest.raises(NotFound):
        service.create_mute(seeded, section_code="S99", starts_at=at, ends_at=at + hour)
    with pytest.raises(NotFound):
        service.create_mute(seeded, station_code="NOPE", starts_at=at, ends_at=at + hour)
    with pytest.raises(NotFound):
        service.delete_mute(seeded, 999_999)


CSV = """name,level,phone,section,tier,webhook_url
王河长,township,+86 13800138000,S07,1,https://hooks.example.cn/wang
王河长,township,13800138000,S08,2,https://hooks.example.cn/wang
李联络,liaison,13900139000,S07,1,
坏号码,village,12345,S07,1,
无断面,county,13700137000,S99,1,
张三,mayor,13600136000,S07,1,
赵四,county,13500135000,S07,x,
王河长,county,13800138000,S09,1,
鲁办,office,,,,http://zsb.example.cn/hook
坏钩子,office,13300133000,S07,1,ftp://example.cn/x
"""


def test_csv_import_reports_bad_rows_and_is_idempotent(seeded: Session, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(CSV, encoding="utf-8")
    report = import_contacts_csv(seeded, path)
    assert report.rows == 10
    assert (report.contacts_created, report.assignments_created) == (3, 3)
    assert [(w.name, w.url) for w in report.webhooks] == [
        ("王河长", "https://hooks.example.cn/wang"),
        ("鲁办", "http://zsb.example.cn/hook"),
    ]
    assert all(w.secret.startswith("whsec_") for w in report.webhooks)
    reasons = {e.line: e.reason for e in report.errors}
    assert sorted(reasons) == [5, 6, 7, 8, 9, 11]
    assert "not a mainland mobile number" in reasons[5]
    assert "no section 'S99'" in reasons[6]
    assert "level 'mayor'" in reasons[7]
    assert "tier 'x'" in reasons[8]
    assert "is 'township', not 'county'" in reasons[9]
    assert "http(s)" in reasons[11]
    wang = service.find_contact(seeded, "王河长", "13800138000")
    assert wang is not None
    assert sorted((a.section.code, a.tier) for a in wang.assignments) == [("S07", 1), ("S08", 2)]
    assert not any(c.name == "坏钩子" for c in service.list_contacts(seeded))  # row undone

    before = _counts(seeded)
    again = import_contacts_text(seeded, CSV)
    assert (again.contacts_created, again.assignments_created, again.assignments_updated) == (
        0,
        0,
        0,
    )
    assert again.webhooks == []
    assert [e.line for e in again.errors] == [5, 6, 7, 8, 9, 11]
    assert _counts(seeded) == before


def test_csv_header_and_encoding() -> None:
    assert decode_csv("name,level\n王,county\n".encode("gb18030")) == "name,level\n王,county\n"
    assert decode_csv("\ufeffname\n".encode()) == "name\n"


def test_csv_without_required_columns_is_refused(session: Session) -> None:
    with pytest.raises(BadRequest, match="lacks section, tier"):
        import_contacts_text(session, "name,level,phone\nx,county,13800138000\n")


# --- HTTP ---------------------------------------------------------------------------------


def test_contacts_api(seeded: Session, client: httpx.Client) -> None:
    created = client.post(
        f"{API}/contacts", json={"name": "陈河长", "level": "village", "phone": "+8613800138000"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["phone"], body["webhooks"], body["sections"]) == ("13800138000", [], [])
    cid = body["id"]
    assert [c["id"] for c in client.get(f"{API}/contacts").json()] == [cid]
    assert client.get(f"{API}/contacts/{cid}").json()["name"] == "陈河长"

    patched = client.patch(f"{API}/contacts/{cid}", json={"level": "township"}).json()
    assert (patched["level"], patched["phone"]) == ("township", "13800138000")
    patched = client.patch(f"{API}/contacts/{cid}", json={"phone": None, "active": False}).json()
    assert (patched["phone"], patched["active"]) == (None, False)

    bad = client.post(f"{API}/contacts", json={"name": "x", "level": "county", "phone": "123"})
    assert bad.status_code == 400
    assert "not a mainland mobile number" in bad.json()["error"]["message"]
    bad_level = client.post(f"{API}/contacts", json={"name": "x", "level": "mayor"})
    assert bad_level.status_code == 422
    assert client.get(f"{API}/contacts/999999").status_code == 404
    assert client.patch(f"{API}/contacts/999999", json={"name": "y"}).status_code == 404
    assert client.get(f"{API}/contacts?section=S99").status_code == 404


def test_webhook_secret_is_returned_once_and_never_listed(
    seeded: Session, client: httpx.Client
) -> None:
    contact = service.create_contact(seeded, name="治水办", level="office", phone=None)
    seeded.commit()
    url = f"{API}/contacts/{contact.id}/webhooks"
    added = client.post(url, json={"url": "https://hooks.example.cn/zsb"})
    assert added.status_code == 201, added.text
    secret = added.json()["secret"]
    assert secret.startswith("whsec_")
    for listing in (client.get(f"{API}/contacts"), client.get(f"{API}/contacts/{contact.id}")):
        assert secret not in listing.text
        assert "secret" not in listing.text
    hooks = client.get(f"{API}/contacts/{contact.id}").json()["webhooks"]
    assert hooks == [
        {"id": added.json()["id"], "url": "https://hooks.example.cn/zsb", "active": True}
    ]

    assert client.post(url, json={"url": "https://hooks.example.cn/zsb"}).status_code == 409
    assert client.post(url, json={"url": "ftp://example.cn/x"}).status_code == 400
    weak = client.post(url, json={"url": "https://b.example.cn", "secret": "hunter2"})
    assert weak.status_code == 400
    assert "whsec_" in weak.json()["error"]["message"]
    assert (
        client.post(f"{API}/contacts/999999/webhooks", json={"url": "https://a.cn"}).status_code
        == 404
    )

    endpoint = f"{url}/{added.json()['id']}"
    assert client.delete(endpoint).status_code == 204
    assert client.delete(endpoint).status_code == 404


def test_assignment_escalation_and_routes_api(seeded: Session, client: httpx.Client) -> None:
    liaison = service.create_contact(seeded, name="联络员", level="liaison", phone="13900000001")
    county = service.create_contact(seeded, name="县河长", level="county", phone="13900000002")
    ops = service.create_contact(seeded, name="运维", level="operations", phone="13900000003")
    seeded.commit()
    for contact, tier in [(liaison, 1), (county, 3), (ops, 1)]:
        put = client.put(f"{API}/sections/S07/contacts/{contact.id}", json={"tier": tier})
        assert put.json() == {"section": "S07", "tier": tier}
    assert (
        client.put(f"{API}/sections/S07/contacts/{county.id}", json={"tier": 2}).status_code == 200
    )
    escalation = [
        {"tier": 1, "delay_s": 0},
        {"tier": 2, "delay_s": 1800},
        {"tier": 3, "delay_s": 7200},
    ]
    assert client.put(f"{API}/sections/S07/escalation", json=escalation).json() == escalation

    routes = client.get(f"{API}/sections/S07/routes").json()
    assert routes["section"] == "S07"
    assert [
        (t["tier"], t["delay_s"], [c["name"] for c in t["contacts"]]) for t in routes["tiers"]
    ] == [
        (1, 0, ["联络员"]),
        (2, 1800, ["县河长"]),
        (3, 7200, []),
    ]
    assert [c["name"] for c in routes["operations"]] == ["运维"]
    listed = client.get(f"{API}/contacts?section=S07").json()
    assert {c["name"] for c in listed} == {"联络员", "县河长", "运维"}
    assert client.get(f"{API}/contacts/{county.id}").json()["sections"] == [
        {"section": "S07", "tier": 2}
    ]

    gap = client.put(f"{API}/sections/S07/escalation", json=[{"tier": 2, "delay_s": 0}])
    assert gap.status_code == 400
    down = [{"tier": 1, "delay_s": 600}, {"tier": 2, "delay_s": 0}]
    assert "must not decrease" in client.put(f"{API}/sections/S07/escalation", json=down).text
    assert client.put(f"{API}/sections/S07/contacts/{ops.id}", json={"tier": 10}).status_code == 422
    assert client.put(f"{API}/sections/S99/contacts/{ops.id}", json={"tier": 1}).status_code == 404
    assert client.put(f"{API}/sections/S07/contacts/999999", json={"tier": 1}).status_code == 404
    assert client.get(f"{API}/sections/S99/routes").status_code == 404

    assert client.delete(f"{API}/sections/S07/contacts/{county.id}").status_code == 204
    assert client.delete(f"{API}/sections/S07/contacts/{county.id}").status_code == 404


def test_mutes_api(seeded: Session, client: httpx.Client) -> None:
    stations.add_station(seeded, code="ST-A", section_code="S07", name="x")
    seeded.commit()
    made = client.post(
        f"{API}/mutes",
        json={"section": "S07", "starts_at": "2030-05-01T08:00", "ends_at": "2030-05-01T18:00"},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["starts_at"], body["ends_at"]) == (
        "2030-05-01T08:00:00+08:00",
        "2030-05-01T18:00:00+08:00",
    )
    assert (body["section"], body["station"], body["active"]) == ("S07", None, False)
    station_mute = client.post(
        f"{API}/mutes",
        json={
            "station": "ST-A",
            "starts_at": "2030-05-02T00:00:00Z",
            "ends_at": "2030-05-02T06:00:00Z",
            "reason": "换电极",
        },
    ).json()
    assert station_mute["starts_at"] == "2030-05-02T08:00:00+08:00"
    past = client.post(
        f"{API}/mutes",
        json={"section": "S01", "starts_at": "2020-01-01T00:00", "ends_at": "2020-01-02T00:00"},
    ).json()

    assert [m["id"] for m in client.get(f"{API}/mutes").json()] == [body["id"], station_mute["id"]]
    everything = client.get(f"{API}/mutes?include_past=true").json()
    assert [m["id"] for m in everything] == [past["id"], body["id"], station_mute["id"]]

    both = {
        "section": "S07",
        "station": "ST-A",
        "starts_at": "2030-01-01T00:00",
        "ends_at": "2030-01-02T00:00",
    }
    assert client.post(f"{API}/mutes", json=both).status_code == 400
    backwards = {"section": "S07", "starts_at": "2030-01-02T00:00", "ends_at": "2030-01-01T00:00"}
    assert client.post(f"{API}/mutes", json=backwards).status_code == 400
    assert client.post(f"{API}/mutes", json={**backwards, "section": "S99"}).status_code in (
        400,
        404,
    )

    assert client.delete(f"{API}/mutes/{body['id']}").status_code == 204
    assert client.delete(f"{API}/mutes/{body['id']}").status_code == 404


def test_import_api_takes_a_csv_body(seeded: Session, client: httpx.Client) -> None:
    headers = {"Content-Type": "text/csv"}
    first = client.post(f"{API}/contacts/import", content=CSV.encode(), headers=headers)
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["rows"], report["contacts_created"]) == (10, 3)
    assert [e["line"] for e in report["errors"]] == [5, 6, 7, 8, 9, 11]
    assert len(report["webhooks"]) == 2
    again = client.post(f"{API}/contacts/import", content=CSV.encode("gb18030"), headers=headers)
    assert (again.json()["contacts_created"], again.json()["webhooks"]) == (0, [])
    headless = client.post(f"{API}/contacts/import", content=b"who,what\n", headers=headers)
    assert headless.status_code == 400


# --- CLI ----------------------------------------------------------------------------------


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_contact_and_mute_commands(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run(cli_env, "seed", "plan").returncode == 0
    added = run(
        cli_env,
        "contact",
        "add",
        "周河长",
        "--level",
        "county",
        "--phone",
        "+86 13800138000",
        "--section",
        "S07",
        "--tier",
        "2",
        "--webhook",
        "https://hooks.example.cn/z",
    )
    assert added.returncode == 0, added.stderr
    assert "contact 1 added: 周河长 (county) on S07 tier 2" in added.stdout
    assert added.stdout.rsplit(":", 1)[1].strip().startswith("whsec_")
    listed = run(cli_env, "contact", "list")
    assert "1\tcounty\t周河长\t13800138000\tactive\tS07:2\t1 webhooks" in listed.stdout
    assert "whsec_" not in listed.stdout

    bad = run(cli_env, "contact", "add", "x", "--level", "county", "--phone", "123")
    assert bad.returncode == 1
    assert "not a mainland mobile number" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert run(cli_env, "contact", "escalation", "S07", "--delays", "0,1800").returncode == 0
    assert run(cli_env, "contact", "escalation", "S07", "--delays", "600,0").returncode == 1

    path = tmp_path / "c.csv"
    path.write_text(CSV, encoding="utf-8")
    imported = run(cli_env, "contact", "import", str(path))
    assert imported.returncode == 1
    assert "line 5:" in imported.stderr
    assert "10 rows: 3 contacts created" in imported.stdout

    muted = run(
        cli_env,
        "mute",
        "add",
        "--section",
        "S07",
        "--from",
        "2030-05-01 08:00",
        "--until",
        "2030-05-01T18:00",
        "--reason",
        "planned maintenance",
    )
    assert muted.returncode == 0, muted.stderr
    assert "S07 2030-05-01 08:00 – 2030-05-01 18:00" in muted.stdout
    mutes = run(cli_env, "mute", "list")
    assert "1\tsection S07\t2030-05-01 08:00\t2030-05-01 18:00\tplanned maintenance" in mutes.stdout
    assert run(cli_env, "mute", "remove", "1").returncode == 0
    assert run(cli_env, "mute", "remove", "1").returncode == 3  # no such mute
    assert (
        run(
            cli_env,
            "mute",
            "add",
            "--station",
            "NOPE",
            "--from",
            "2030-01-01",
            "--until",
            "2030-01-02",
        ).returncode
        == 3
    )
