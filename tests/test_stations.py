from __future__ import annotations

import httpx
import pytest
from sqlalchemy.orm import Session

from app.stations import service as stations
from core.errors import Conflict, NotFound, Unauthorized


def test_add_station_returns_a_key_that_authenticates(seeded: Session) -> None:
    station, key = stations.add_station(
        seeded, code="ST-1", section_code="S07", name="蒲岐 test", mn="MN0001"
    )
    assert key.startswith("rw_")
    assert station.api_key_hash != key
    assert stations.authenticate(seeded, key).code == "ST-1"


def test_rotate_key_revokes_the_old_one(seeded: Session) -> None:
    _, old = stations.add_station(seeded, code="ST-1", section_code="S07", name="x")
    new = stations.rotate_key(seeded, "ST-1")
    assert new != old
    assert stations.authenticate(seeded, new).code == "ST-1"
    with pytest.raises(Unauthorized):
        stations.authenticate(seeded, old)


def test_inactive_station_cannot_authenticate(seeded: Session) -> None:
    station, key = stations.add_station(seeded, code="ST-1", section_code="S07", name="x")
    station.active = False
    seeded.flush()
    with pytest.raises(Unauthorized):
        stations.authenticate(seeded, key)


def test_duplicate_code_or_mn_and_unknown_section(seeded: Session) -> None:
    stations.add_station(seeded, code="ST-1", section_code="S07", name="x", mn="MN1")
    with pytest.raises(Conflict):
        stations.add_station(seeded, code="ST-1", section_code="S07", name="y")
    with pytest.raises(Conflict):
        stations.add_station(seeded, code="ST-2", section_code="S07", name="y", mn="MN1")
    with pytest.raises(NotFound):
        stations.add_station(seeded, code="ST-3", section_code="S99", name="z")


def test_stations_api(seeded: Session, client: httpx.Client) -> None:
    stations.add_station(seeded, code="ST-1", section_code="S07", name="a", mn="MN1")
    stations.add_station(seeded, code="ST-2", section_code="S01", name="b")
    listed = client.get("/api/v1/stations").json()
    assert [s["code"] for s in listed] == ["ST-1", "ST-2"]
    assert "api_key_hash" not in listed[0]
    assert [s["code"] for s in client.get("/api/v1/stations?section=S01").json()] == ["ST-2"]
    assert client.get("/api/v1/stations/ST-1").json()["mn"] == "MN1"
    assert client.get("/api/v1/stations/NOPE").status_code == 404
