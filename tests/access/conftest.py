"""An app with access control on (an admin token is set), served over HTTP, and a world
to test it on: two sections in different zones, with a station, incident, contact,
message and mute each, and a user with a token for every role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import incidents as lifecycle
from alerts import outbox
from alerts.channels.base import ChannelKind
from alerts.incidents import Severity, Subject
from alerts.models import Contact, MuteWindow, SectionContact
from alerts.smsgw.serve import serving
from app.access import service
from app.access.deps import PagePrincipalDep
from app.access.policy import Role
from app.deps import get_session
from app.main import create_app
from app.stations import service as stations
from core.models import Section, StoredReport
from core.settings import Environment, Settings

ADMIN_TOKEN = "a-bootstrap-admin-token-long-enough"
PASSWORD = "correct horse battery"
NOW = datetime.now(UTC).replace(microsecond=0)


def access_settings(database_url: str, **changes: object) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=database_url,
        scheduler=False,
        admin_token=SecretStr(ADMIN_TOKEN),
        login_max_failures=3,
        login_lockout_s=60,
        **changes,  # type: ignore[arg-type]
    )


def _served(app: FastAPI) -> Iterator[str]:
    with serving(app, lifespan="on") as url:
        yield url


@pytest.fixture(scope="session")
def secured_app(database_url: str) -> FastAPI:
    app = create_app(access_settings(database_url))

    @app.get("/test-page", include_in_schema=False)
    def page(principal: PagePrincipalDep) -> dict[str, str]:
        return {"user": principal.username}

    return app


@pytest.fixture(scope="session")
def secured_url(secured_app: FastAPI) -> Iterator[str]:
    yield from _served(secured_app)


@pytest.fixture(scope="session")
def private_app(database_url: str) -> FastAPI:
    return create_app(access_settings(database_url, public_reads=False))


@pytest.fixture(scope="session")
def private_url(private_app: FastAPI) -> Iterator[str]:
    yield from _served(private_app)


def _bind(app: FastAPI, session: Session) -> None:
    def test_session() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    app.dependency_overrides[get_session] = test_session


@pytest.fixture
def http(secured_app: FastAPI, secured_url: str, session: Session) -> Iterator[httpx.Client]:
    """A client of the secured app whose requests run in this test's transaction."""
    _bind(secured_app, session)
    try:
        with httpx.Client(base_url=secured_url, trust_env=False, timeout=30) as client:
            yield client
    finally:
        secured_app.dependency_overrides.clear()


@pytest.fixture
def private_http(
    private_app: FastAPI, private_url: str, session: Session
) -> Iterator[httpx.Client]:
    _bind(private_app, session)
    try:
        with httpx.Client(base_url=private_url, trust_env=False, timeout=30) as client:
            yield client
    finally:
        private_app.dependency_overrides.clear()


@dataclass
class Place:
    section: Section
    station_code: str
    incident_id: int
    contact_id: int
    message_id: int
    mute_id: int
    stored_report_id: int  # the zone's kept quarterly report


@dataclass
class World:
    inside: Place  # the zone officer's zone, the river chief's section
    outside: Place
    zone: str
    tokens: dict[str, str] = field(default_factory=dict)  # role -> bearer token
    users: dict[str, int] = field(default_factory=dict)  # role -> user id
    spare_token_id: int = 0
    city_report_id: int = 0  # the kept city-wide report: out of every scoped caller's reach

    def auth(self, role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def _place(session: Session, code: str, station_code: str, by_station: bool) -> Place:
    section = session.scalars(select(Section).where(Section.code == code)).one()
    station, _ = stations.add_station(
        session, code=station_code, section_code=code, name=f"{code} test"
    )
    incident, _ = lifecycle.raise_or_update(
        session,
        Subject(rule="class_v", section_id=section.id),
        severity=Severity.CRITICAL,
        details={"section_class": 5, "target_class": 3, "items": {"nh3n": 1.72}},
        at=NOW - timedelta(hours=2),
    )
    person = Contact(name=f"chief of {code}", level="village", phone="13812345678")
    session.add(person)
    session.flush()
    session.add(SectionContact(section_id=section.id, contact_id=person.id, tier=1))
    message = outbox.enqueue(
        session,
        channel=ChannelKind.SMS,
        recipient="13812345678",
        event="opened",
        text="alert",
        payload={},
        incident_id=incident.id,
        contact_id=person.id,
    )
    message.status = "dead"
    mute = MuteWindow(
        section_id=None if by_station else section.id,
        station_id=station.id if by_station else None,
        starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(days=1),
        reason="maintenance",
    )
    session.add(mute)
    kept = StoredReport(
        kind="quarterly", period="2025-Q4", zone_id=section.zone_id, xlsx=b"zone", csv_zip=b"z"
    )
    session.add(kept)
    session.flush()
    return Place(section, station_code, incident.id, person.id, message.id, mute.id, kept.id)


@pytest.fixture
def world(seeded: Session) -> World:
    session = seeded
    inside = _place(session, "S07", "ST-IN", by_station=False)
    outside = _place(session, "S11", "ST-OUT", by_station=True)
    assert inside.section.zone is not None
    assert inside.section.zone_id != outside.section.zone_id
    w = World(inside=inside, outside=outside, zone=inside.section.zone.name)
    for role in Role:
        user = service.add_user(
            session,
            username=f"u-{role.value}",
            role=role.value,
            zones=[w.zone] if role is Role.ZONE_OFFICER else [],
            contact_id=inside.contact_id if role is Role.RIVER_CHIEF else None,
        )
        _, token = service.create_token(session, user, name="tests", ttl=timedelta(days=1), now=NOW)
        w.tokens[role.value], w.users[role.value] = token, user.id
    spare = service.add_user(session, username="u-spare", role="viewer")
    w.spare_token_id = service.create_token(
        session, spare, name="spare", ttl=timedelta(days=1), now=NOW
    )[0].id
    city = StoredReport(kind="quarterly", period="2025-Q4", xlsx=b"city", csv_zip=b"zip")
    session.add(city)
    session.flush()
    w.city_report_id = city.id
    session.commit()
    return w
