"""The audit log: who changed what, when and from where, before and after; append-only."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.access.models import AuditEntry
from tests.access.conftest import ADMIN_TOKEN, World

API = "/api/v1"


def entries(session: Session, object_type: str, object_id: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == object_type, AuditEntry.object_id == object_id)
            .order_by(AuditEntry.id)
        )
    )


def test_contact_changes_are_audited_without_secrets(
    http: httpx.Client, world: World, session: Session
) -> None:
    admin = world.auth("admin")
    made = http.post(
        f"{API}/contacts",
        json={"name": "王五", "level": "village", "phone": "13900001111"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    cid = str(made.json()["id"])
    patched = http.patch(f"{API}/contacts/{cid}", json={"name": "王五五"}, headers=admin)
    assert patched.status_code == 200, patched.text
    hook = http.post(
        f"{API}/contacts/{cid}/webhooks", json={"url": "https://hooks.example/x"}, headers=admin
    )
    assert hook.status_code == 201, hook.text

    created, updated = entries(session, "contact", cid)
    assert (created.action, created.actor, created.via) == ("create", "u-admin", "token")
    assert created.actor_user_id == world.users["admin"]
    assert created.ip == "127.0.0.1"
    assert created.after is not None
    assert created.after["name"] == "王五"
    assert created.after["phone"] == "*******1111"  # phone numbers never reach a log
    assert (updated.before, updated.after) == ({"name": "王五"}, {"name": "王五五"})

    (webhook,) = entries(session, "webhook", str(hook.json()["id"]))
    assert webhook.after is not None
    assert webhook.after["secret"] == "***"
    assert hook.json()["secret"] not in str(webhook.after)


def test_acknowledgement_and_resolution_are_audited(
    http: httpx.Client, world: World, session: Session
) -> None:
    iid = world.inside.incident_id
    auth = world.auth("zone_officer")
    assert http.post(
        f"{API}/incidents/{iid}/acknowledge", json={"by": "z"}, headers=auth
    ).is_success
    assert http.post(
        f"{API}/incidents/{iid}/resolve", json={"note": "ok", "force": True}, headers=auth
    ).is_success
    acked, resolved = entries(session, "incident", str(iid))
    assert acked.actor == resolved.actor == "u-zone_officer"
    assert acked.before is not None
    assert acked.before["state"] == "open"
    assert acked.after is not None
    assert acked.after["state"] == "acknowledged"
    assert resolved.after is not None
    assert resolved.after["state"] == "resolved"


def test_rules_mutes_and_users_are_audited(
    http: httpx.Client, world: World, session: Session
) -> None:
    bootstrap = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert http.patch(f"{API}/rules/class_v", json={"hold_s": 600}, headers=bootstrap).is_success
    (rule,) = entries(session, "rule", "class_v")
    assert (rule.actor, rule.via, rule.after) == ("bootstrap-admin", "admin-token", {"hold_s": 600})

    mute = world.inside.mute_id
    assert http.delete(f"{API}/mutes/{mute}", headers=world.auth("operations")).status_code == 204
    (deleted,) = entries(session, "mute", str(mute))
    assert deleted.action == "delete"
    assert deleted.actor == "u-operations"
    assert deleted.before is not None
    assert deleted.before["reason"] == "maintenance"

    made = http.post(
        f"{API}/users",
        json={"username": "new-one", "role": "viewer", "password": "a long password"},
        headers=bootstrap,
    )
    assert made.status_code == 201, made.text
    (user,) = entries(session, "user", str(made.json()["id"]))
    assert user.after is not None
    assert user.after["password_hash"] == "***"
    assert "a long password" not in str(user.after)


def test_only_admins_read_the_log(http: httpx.Client, world: World) -> None:
    http.patch(f"{API}/rules/class_v", json={"hold_s": 601}, headers=world.auth("admin"))
    assert http.get(f"{API}/audit", headers=world.auth("analyst")).status_code == 403
    listed = http.get(f"{API}/audit", params={"object_type": "rule"}, headers=world.auth("admin"))
    assert listed.status_code == 200
    assert listed.json()[0]["after"] == {"hold_s": 601}


def test_reads_and_refusals_write_nothing(
    http: httpx.Client, world: World, session: Session
) -> None:
    count = session.scalar(text("SELECT count(*) FROM audit_log"))
    http.get(f"{API}/incidents", headers=world.auth("admin"))
    http.patch(f"{API}/rules/class_v", json={"hold_s": 5}, headers=world.auth("viewer"))
    assert session.scalar(text("SELECT count(*) FROM audit_log")) == count


def test_the_log_is_append_only(http: httpx.Client, world: World, session: Session) -> None:
    http.patch(f"{API}/rules/class_v", json={"hold_s": 602}, headers=world.auth("admin"))
    for statement in (
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement))
