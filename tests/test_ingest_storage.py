"""What ingest caches per process takes effect when it changes, and readings never point
at a missing station or parameter although they have no foreign keys (0011)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from app.ingest import service
from app.ingest.validate import parse_items
from app.stations import service as stations
from core.db import libpq_url
from core.models import Station
from sensors.readings import Kind
from tests.conftest import seeded_database

NOW = datetime.now(UTC).replace(microsecond=0)


def at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat()


def post(client: httpx.Client, key: str, hours_ago: float, **values: float) -> httpx.Response:
    body = {"readings": [{"time": at(hours_ago), "values": values}]}
    return client.post("/api/v1/readings", json=body, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def station(seeded: Session) -> tuple[Station, str]:
    added = stations.add_station(seeded, code="ST-CACHE", section_code="S07", name="cache")
    seeded.commit()
    return added


def test_a_rotated_key_is_refused_at_once_and_the_new_one_works(
    client: httpx.Client, seeded: Session, station: tuple[Station, str]
) -> None:
    st, old = station
    assert post(client, old, 3, nh3n=0.5).status_code == 200  # the key is now cached
    new = stations.rotate_key(seeded, st.code)
    seeded.commit()
    refused = post(client, old, 2, nh3n=0.5)
    assert refused.status_code == 401, refused.text
    # Not even an all-refused batch or one naming another station gets past a stale key.
    assert post(client, old, 2, xyz=1).status_code == 401
    body = {"station": "OTHER", "readings": [{"time": at(2), "values": {"nh3n": 0.5}}]}
    auth = {"Authorization": f"Bearer {old}"}
    assert client.post("/api/v1/readings", json=body, headers=auth).status_code == 401
    assert post(client, new, 2, nh3n=0.5).json()["accepted"] == 1
    count = seeded.execute(
        text("SELECT count(*) FROM readings WHERE station_id = :s"), {"s": st.id}
    ).scalar_one()
    assert count == 2


def test_a_disabled_station_is_refused_although_cached(
    client: httpx.Client, seeded: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    assert post(client, key, 3, nh3n=0.5).status_code == 200
    seeded.execute(text("UPDATE stations SET active = false WHERE id = :s"), {"s": st.id})
    seeded.commit()
    assert post(client, key, 2, nh3n=0.5).status_code == 401
    seeded.execute(text("UPDATE stations SET active = true WHERE id = :s"), {"s": st.id})
    seeded.commit()
    assert post(client, key, 2, nh3n=0.5).status_code == 200


def test_a_threshold_change_judges_the_next_batch(
    client: httpx.Client, seeded: Session, station: tuple[Station, str]
) -> None:
    st, key = station
    first = post(client, key, 3, nh3n=0.5).json()
    assert first["times"][0]["items"]["nh3n"]["qc"] != "fail"
    stations.set_qc_overrides(seeded, st.code, "nh3n", {"fail_max": 0.4})
    seeded.commit()
    second = post(client, key, 2, nh3n=0.5).json()
    assert second["times"][0]["items"]["nh3n"]["qc"] == "fail"
    stations.set_qc_overrides(seeded, st.code, "nh3n", {"fail_max": 50.0})
    seeded.commit()
    third = post(client, key, 1, nh3n=0.5).json()
    assert third["times"][0]["items"]["nh3n"]["qc"] != "fail"


def test_a_new_target_classes_the_next_batch_against_it(
    client: httpx.Client, seeded: Session, station: tuple[Station, str]
) -> None:
    _, key = station
    assert post(client, key, 3, nh3n=0.5).json()["times"][0]["target_class"] == 3
    seeded.execute(
        text("UPDATE section_targets SET binding_class = 2 WHERE section_id = :s"),
        {"s": station[0].section_id},
    )
    seeded.commit()
    assert post(client, key, 2, nh3n=0.5).json()["times"][0]["target_class"] == 2


def test_deleting_a_station_deletes_its_readings_and_a_used_parameter_stays(
    seeded: Session, station: tuple[Station, str]
) -> None:
    st, _ = station
    now = datetime.now(UTC)
    parsed = parse_items([{"time": at(1), "values": {"nh3n": 0.5, "tp": 0.1}}], now=now)
    assert service.ingest(seeded, st, parsed, now=now).accepted == 2
    with (
        pytest.raises(Exception, match=r"parameter \d+ has readings") as refused,
        seeded.begin_nested(),
    ):
        seeded.execute(text("DELETE FROM parameters WHERE code = 'tp'"))
    assert getattr(getattr(refused.value, "orig", None), "sqlstate", None) == "23503"
    seeded.execute(text("DELETE FROM stations WHERE id = :s"), {"s": st.id})
    left = seeded.execute(
        text("SELECT count(*) FROM readings WHERE station_id = :s"), {"s": st.id}
    ).scalar_one()
    assert left == 0


@pytest.fixture
def own_engine(server_url: str) -> Iterator[Engine]:
    """A database of its own: the test below commits from two connections at once."""
    with seeded_database(server_url, f"riverwatch_storage_{os.getpid()}") as engine:
        yield engine


def test_a_station_deleted_while_a_batch_is_in_flight_leaves_no_reading(
    own_engine: Engine,
) -> None:
    with Session(own_engine) as session, session.begin():
        st, _ = stations.add_station(session, code="ST-RACE", section_code="S07", name="race")
        station_id = st.id
    url = libpq_url(own_engine.url.render_as_string(hide_password=False))
    batch = Session(own_engine)
    now = datetime.now(UTC)
    parsed = parse_items([{"time": at(1), "values": {"nh3n": 0.5, "tp": 0.1}}], now=now)
    station = batch.get(Station, station_id)
    assert station is not None
    # Hourly means: no roll-ups (instant readings only), whose own foreign key to stations
    # would lock the station too; here the batch's lock is the only one.
    stored = service.ingest(batch, station, parsed, now=now, kind=Kind.HOUR)
    assert stored.accepted == 2  # not committed yet
    done: dict[str, Any] = {}

    def delete() -> None:
        try:
            with psycopg.connect(url) as conn:
                conn.execute("DELETE FROM stations WHERE id = %s", (station_id,))
        except Exception as exc:  # reported below, not lost
            done["error"] = exc
        done["ok"] = True

    deleter = threading.Thread(target=delete)
    deleter.start()
    with psycopg.connect(url, autocommit=True) as watch:
        # The deletion must wait for the batch's lock on its station (bounded poll).
        for _ in range(500):
            waiting = watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'DELETE FROM stations%%'"
            ).fetchone()
            if (waiting and waiting[0]) or done:
                break
            threading.Event().wait(0.02)
        batch.commit()
        batch.close()
        deleter.join(timeout=60)
        assert "error" not in done, done
        assert done.get("ok")
        orphans = watch.execute(
            "SELECT count(*) FROM readings WHERE station_id = %s", (station_id,)
        ).fetchone()
    assert orphans == (0,)
