"""Re-measure at once over real TCP: a logger played by the test jumps (QC suspect), the
service's evaluate job opens an unconfirmed warning and sends the logger 即时采样 (CN 3012)
for the item; its 9011/9012 answers reach the incident's timeline, and its next good
reading confirms the warning."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts.models import Incident, IncidentEvent
from app.incidents import remeasure
from app.scheduler import Jobs
from app.stations import service as stations
from core.models import Hj212Command, Reading, Station
from core.settings import Environment, Settings
from sensors.hj212.packet import execution_reply, request_reply
from sensors.qc import QCFlag
from tests.hj212.conftest import PW, Logger, Running, recent

SECTION = "S12"  # no other listener test writes here: its incidents are this test's


def eventually(check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


@pytest.fixture
def station(running: Running) -> Iterator[Station]:
    with running.sessions() as session, session.begin():
        st, _ = stations.add_station(
            session, code=f"HJ-RM-{os.getpid()}", section_code=SECTION, name="re-measure test",
            mn=f"0100REMEASURE{os.getpid():011d}", hj212_password=PW,
        )  # fmt: skip
    yield st
    with running.sessions() as session, session.begin():
        session.execute(delete(Incident).where(Incident.section_id == st.section_id))
        session.execute(delete(Station).where(Station.id == st.id))


@pytest.fixture
def jobs(running: Running) -> Iterator[Jobs]:
    settings = Settings(
        env=Environment.TEST, database_url="postgresql://unused", scheduler=False,
        secret_key=SecretStr("remeasure-test"),
    )  # fmt: skip
    made = Jobs(settings, running.sessions)
    yield made
    made.client.close()


def timeline(running: Running, incident_id: int) -> list[tuple[str, dict[str, Any]]]:
    with running.sessions() as session:
        stmt = select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
        return [(e.kind, e.details) for e in session.scalars(stmt.order_by(IncidentEvent.id))]


def class_v(session: Session, station: Station) -> Incident:
    stmt = select(Incident).where(
        Incident.section_id == station.section_id, Incident.rule == "class_v"
    )
    return session.scalars(stmt).one()


def test_an_unconfirmed_warning_asks_the_logger_to_sample_now(
    running: Running, station: Station, jobs: Jobs
) -> None:
    logger = Logger(running.port, station.mn or "")
    logger.send(logger.upload(recent(2), {"nh3n": 0.6}))
    assert logger.receive().cn == "9014"
    logger.send(logger.upload(recent(1), {"nh3n": 1.85}))
    assert logger.receive().cn == "9014"
    with running.sessions() as session:
        flags = session.scalars(
            select(Reading.qc_flag).where(Reading.station_id == station.id).order_by(Reading.time)
        ).all()
    assert flags == [QCFlag.GOOD, QCFlag.SUSPECT]

    jobs.evaluate()  # the scheduler's job, as ingest's wake-up runs it
    with running.sessions() as session:
        incident = class_v(session, station)
        assert incident.confirmation == "unconfirmed"

    request = logger.receive()  # the listener polls its queue every second
    assert (request.cn, request.fields) == ("3012", {"PolId": "w21003"})
    logger.send(request_reply(request, 1))
    logger.send(execution_reply(request, 1))

    def answered() -> list[dict[str, Any]]:
        return [d for k, d in timeline(running, incident.id) if k == "remeasure_answer"]

    assert eventually(lambda: len(answered()) == 2)
    assert [(a["cn"], a["code"], a["state"]) for a in answered()] == [
        ("9011", 1, "accepted"),
        ("9012", 1, "done"),
    ]
    kinds = [k for k, _ in timeline(running, incident.id)]
    assert kinds.index("unconfirmed") < kinds.index("remeasure_requested")
    assert kinds.index("remeasure_requested") < kinds.index("remeasure_answer")
    with running.sessions() as session:
        found = remeasure.status(session, class_v(session, station), recent(0))
        assert found.via == "hj212"
        ((command),) = found.commands
        assert (command.qn, command.cn, command.state, command.exe_rtn) == (
            request.qn, "3012", "done", 1,
        )  # fmt: skip

    # The sample's result, good data, confirms it.
    logger.send(logger.upload(recent(0), {"nh3n": 1.9}))
    assert logger.receive().cn == "9014"
    jobs.evaluate()
    with running.sessions() as session:
        assert class_v(session, station).confirmation == "confirmed"
        sent = session.scalars(
            select(Hj212Command).where(Hj212Command.station_id == station.id)
        ).all()
        assert len(sent) == 1  # confirmation asks for nothing more
    logger.close()
