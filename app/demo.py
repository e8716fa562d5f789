"""The demo: one simulated station per section, fed by a gateway thread over real HTTP.

`riverwatch serve --demo` registers (or re-keys) the stations, then serves the API with
the gateway posting sensors.simulator's readings to it every few seconds. Stations and
their readings are marked simulated; the readings are a model, not data (see the
simulator's docstring).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.demo_gateway import (
    DEFAULT_INTERVAL_S,
    QUIET_POSTS,
    DemoStation,
    Gateway,
    local_url,
    run_with_gateway,
)
from app.hj212.demo import DemoLogger, LoggerClient, enable_hj212
from app.stations import service as stations_service
from core.errors import Conflict
from core.models import Section, Station
from sensors.qc_thresholds import DEFAULT_THRESHOLDS
from sensors.simulator import AUTOMATIC_ITEMS, Simulator

logger = logging.getLogger(__name__)

STATION_PREFIX: Final = "SIM-"


def station_code(section_code: str) -> str:
    return f"{STATION_PREFIX}{section_code}"


def demo_qc_overrides(interval_s: float) -> dict[str, dict[str, float | None]]:
    """QC thresholds for a station reporting every `interval_s` seconds.

    The defaults are tuned for hourly readings: at 5 s a one-step change of TP at its
    reporting precision is already a rate far beyond the hourly limit, and the flat-line
    and gap durations would make every post read days of context. Rates and durations are
    scaled so each reading is judged as an hourly station's would be; gross range and
    spike thresholds, which are not about time, stay.
    """
    per_hour = interval_s / 3600.0
    overrides: dict[str, dict[str, float | None]] = {}
    for code in AUTOMATIC_ITEMS:
        default = DEFAULT_THRESHOLDS[code]
        scaled: dict[str, float | None] = {}
        if default.rate_per_hour is not None:
            scaled["rate_per_hour"] = default.rate_per_hour / per_hour
        for name in ("flat_suspect_seconds", "flat_fail_seconds", "max_gap_seconds"):
            seconds = getattr(default, name)
            if seconds is not None:
                scaled[name] = seconds * per_hour
        overrides[code] = scaled
    return overrides


def _modelled_sections(session: Session) -> list[Section]:
    # Only a section with a 2020 class can be simulated: its levels are derived from it.
    return list(
        session.scalars(
            select(Section).where(Section.class_2020.is_not(None)).order_by(Section.code)
        )
    )


def ensure_demo_stations(
    session: Session, interval_s: float = DEFAULT_INTERVAL_S
) -> dict[str, DemoStation]:
    """One simulated station per section, keyed afresh; the caller commits.

    Keys are stored hashed only, so a station from an earlier run gets a new key. A station
    with a demo code that is not simulated, or reports for another section, is refused
    rather than re-keyed. A demo station an operator deactivated stays off and unfed.
    """
    interval = max(1, round(interval_s))
    sections = _modelled_sections(session)
    codes = [station_code(s.code) for s in sections]
    existing = {s.code: s for s in session.scalars(select(Station).where(Station.code.in_(codes)))}
    result: dict[str, DemoStation] = {}
    for section, code in zip(sections, codes, strict=True):
        station = existing.get(code)
        if station is None:
            station, key = stations_service.add_station(
                session,
                code=code,
                section_code=section.code,
                name=f"{section.name} 模拟站 (simulated)",
                reporting_interval_s=interval,
                simulated=True,
            )
        elif not station.simulated or station.section_id != section.id:
            raise Conflict(f"station {code} exists and is not {section.code}'s simulated station")
        elif not station.active:
            logger.info("demo station %s is deactivated: not fed", code)
            continue
        else:
            key = stations_service.rotate_key(session, code)
            station.reporting_interval_s = interval
        station.qc_overrides = demo_qc_overrides(interval_s)
        result[section.code] = DemoStation(code, key)
    session.flush()
    return result


def simulator_for(
    session: Session, section_codes: Iterable[str], seed: int | None = None
) -> Simulator:
    """A simulator of these sections, from their plan attributes as stored."""
    wanted = set(section_codes)
    plan = [
        {
            "code": s.code,
            "class_2020": s.class_2020,
            "main_factors_2020": list(s.main_factors_2020 or ()),
            "waterbody": s.waterbody,
        }
        for s in _modelled_sections(session)
        if s.code in wanted
    ]
    return Simulator.from_plan(plan, seed)


@dataclass(frozen=True, slots=True)
class DemoFeed:
    stations: Mapping[str, DemoStation]
    simulator: Simulator
    interval_s: float
    hj212: Mapping[str, DemoLogger] = field(default_factory=dict)


def prepare_demo(
    session: Session,
    interval_s: float = DEFAULT_INTERVAL_S,
    seed: int | None = None,
    hj212: bool = False,
) -> DemoFeed:
    """Demo stations (keyed afresh) and their simulator; the caller commits. With `hj212`
    some stations' loggers speak HJ 212 (app.hj212.demo)."""
    stations = ensure_demo_stations(session, interval_s)
    loggers = (
        enable_hj212(session, {s: d.station_code for s, d in stations.items()}) if hj212 else {}
    )
    return DemoFeed(stations, simulator_for(session, stations, seed), interval_s, loggers)


def serve_demo(
    app: FastAPI,
    *,
    host: str,
    port: int,
    feed: DemoFeed,
    log_level: str = "info",
    hj212_port: int | None = None,
) -> None:
    """uvicorn.run(app) plus the simulated gateway, which starts once the server listens."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level=log_level, log_config=None)
    )
    logging.getLogger("uvicorn.access").addFilter(QUIET_POSTS)
    # A "batch stored" line per station every few seconds: the round summary stands for them.
    logging.getLogger("app.ingest.service").setLevel(logging.WARNING)
    gateway = Gateway(
        local_url(host, port),
        feed.stations,
        feed.simulator,
        interval_s=feed.interval_s,
        ready=lambda: server.started and not server.should_exit,
        hj212={s: LoggerClient(("127.0.0.1", hj212_port), who) for s, who in feed.hj212.items()}
        if hj212_port is not None
        else None,
    )
    run_with_gateway(server, gateway)
