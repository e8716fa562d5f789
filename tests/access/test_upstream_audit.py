"""Upstream lists are admin changes: audited with before and after, like the others."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access.models import AuditEntry
from app.stations import service as stations
from tests.access.conftest import World

API = "/api/v1"


def test_upstream_changes_are_audited(http: httpx.Client, world: World, session: Session) -> None:
    outfall, _ = stations.add_station(session, code="OUT-A", section_code=None, name="排口")
    session.commit()
    code, section_id = world.inside.section.code, world.inside.section.id
    ops = world.auth("operations")
    url = f"{API}/sections/{code}/upstream"
    first = http.put(url, json=[{"station": "OUT-A", "order": 1}], headers=ops)
    assert first.status_code == 200, first.text
    again = http.put(url, json=[{"station": "OUT-A", "order": 1}], headers=ops)
    assert again.status_code == 200
    timed = http.put(
        url, json=[{"station": "OUT-A", "order": 1, "travel_time_min": 45}], headers=ops
    )
    assert timed.status_code == 200
    assert http.put(url, json=[], headers=ops).status_code == 200

    found = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.object_type == "upstream_link",
            AuditEntry.object_id == f"{section_id}/{outfall.id}",
        )
        .order_by(AuditEntry.id)
    ).all()
    # The unchanged second PUT writes nothing.
    assert [(e.action, e.actor, e.via) for e in found] == [
        ("create", "u-operations", "token"),
        ("update", "u-operations", "token"),
        ("delete", "u-operations", "token"),
    ]
    assert found[0].after is not None
    assert found[0].after["position"] == 1
    assert (found[1].before, found[1].after) == (
        {"travel_time_min": None},
        {"travel_time_min": 45},
    )
