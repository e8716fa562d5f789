"""Any batch, however mixed: every valid item is kept and every invalid one refused with a
reason, by item index; never a 5xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from app.stations import service as stations
from core.models import Station
from sensors.parameters import BY_CODE

CODES = sorted(BY_CODE)
NOW = datetime.now(UTC).replace(microsecond=0)

valid_value = st.floats(min_value=0, max_value=14, allow_nan=False, allow_infinity=False)
junk: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.integers(min_value=10**20, max_value=10**30).map(lambda n: -n),
    st.just(float("nan")),
    st.just(10**400),
)


@st.composite
def valid_item(draw: st.DrawFn, second: int) -> dict[str, Any]:
    codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=4, unique=True))
    return {
        "time": (NOW - timedelta(hours=30, seconds=second)).isoformat(),
        "values": {c: draw(valid_value) for c in codes},
    }


invalid_item: st.SearchStrategy[Any] = st.one_of(
    junk,
    st.fixed_dictionaries({"values": st.just({"nh3n": 0.5})}),  # no time
    st.fixed_dictionaries({"time": junk, "values": st.just({"nh3n": 0.5})}),
    st.fixed_dictionaries({"time": st.just(NOW.isoformat()), "values": junk}),
    st.fixed_dictionaries(
        {"time": st.just(NOW.isoformat()), "values": st.fixed_dictionaries({"nh3n": junk})}
    ),
    st.fixed_dictionaries({"time": st.just(NOW.isoformat()), "values": st.just({"nh3n\x00": 1.0})}),
)


@st.composite
def batch(draw: st.DrawFn) -> tuple[list[Any], set[int], int]:
    """Items, the indexes of the invalid ones, and the count of valid values."""
    kinds = draw(st.lists(st.booleans(), min_size=1, max_size=12))
    items: list[Any] = []
    invalid: set[int] = set()
    values = 0
    for index, good in enumerate(kinds):
        if good:
            item = draw(valid_item(second=draw(st.integers(0, 10**6)) * 60 + index))
            values += len(item["values"])
        else:
            item = draw(invalid_item)
            invalid.add(index)
        items.append(item)
    return items, invalid, values


@pytest.fixture
def station(seeded: Session) -> tuple[Station, str]:
    added = stations.add_station(seeded, code="ST-P", section_code="S07", name="property")
    seeded.commit()
    return added


@given(drawn=batch())
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
def test_every_valid_item_is_kept_and_every_invalid_one_refused(
    client: httpx.Client, station: tuple[Station, str], drawn: tuple[list[Any], set[int], int]
) -> None:
    items, invalid, values = drawn
    _, key = station
    response = client.post(
        "/api/v1/readings",
        content=json.dumps({"readings": items}, allow_nan=True),
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    assert response.status_code < 500, response.text
    body = response.json()
    if values == 0:
        assert response.status_code == 422
        refused = {d["index"] for d in body["error"]["details"]}
    else:
        assert response.status_code == 200, response.text
        assert body["accepted"] + body["duplicate"] + body["revised"] == values
        refused = {e["index"] for e in body["errors"]}
        assert all(e["reason"] for e in body["errors"])
    assert refused == invalid
