"""The demo: one simulated station per section, fed by a gateway thread over real HTTP.

`riverwatch serve --demo` registers (or re-keys) the stations, then serves the API with
the gateway posting sensors.simulator's readings to it every few seconds. Stations and
their readings are marked simulated; the readings are a model, not data (see the
simulator's docstring).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.stations import service as stations_service
from core.errors import Conflict
from core.models import Section, Station
from sensors.local_time import SHANGHAI
from sensors.qc_thresholds import DEFAULT_THRESHOLDS
from sensors.simulator import AUTOMATIC_ITEMS, Simulator

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S: Final = 5.0
STATION_PREFIX: Final = "SIM-"
READINGS_PATH: Final = "/api/v1/readings"
_THREAD_NAME: Final = "demo-gateway"


class DemoStation(NamedTuple):
    station_code: str
    key: str


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
class RoundResult:
    time: datetime
    stations: int  # posted to
    accepted: int
    duplicate: int
    revised: int
    refused: int  # values
    failed: int  # stations whose post did not get through or was rejected whole


class Gateway:
    """Posts a sample for every demo station each `interval_s` in its own thread, from
    start() until stop().

    `ready`, when given, gates every round (e.g. "the server is listening and not
    stopping"). Connection errors in the first `startup_grace_s`, before any post got
    through, are logged at DEBUG: the server may still be starting.
    """

    def __init__(
        self,
        base_url: str,
        stations: Mapping[str, DemoStation],
        simulator: Simulator,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        ready: Callable[[], bool] | None = None,
        startup_grace_s: float = 30.0,
        timeout_s: float = 10.0,
    ) -> None:
        if interval_s < 1:
            # Times are posted to the second: two rounds in one second would collide.
            raise ValueError(f"interval_s must be at least 1 s, not {interval_s}")
        missing = sorted(set(stations) - set(simulator.sections))
        if missing:
            raise ValueError(f"the simulator has no model of sections {missing}")
        self.interval_s = interval_s
        self._stations = dict(stations)
        self._simulator = simulator
        self._ready = ready
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s, trust_env=False)
        self._stopping = threading.Event()
        # Composed, not inherited: Thread's own private names (_stop, _started) are taken.
        self._thread = threading.Thread(target=self._run, name=_THREAD_NAME, daemon=True)
        self._quiet_until = time.monotonic() + startup_grace_s
        self._got_through = False
        self._rounds = 0

    def start(self) -> None:
        logging.getLogger("httpx").addFilter(_QUIET_POSTS)  # the round summary stands for them
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self._client.close()

    @property
    def rounds(self) -> int:
        """Rounds completed so far."""
        return self._rounds

    def _run(self) -> None:
        try:
            next_round = time.monotonic()
            while not self._stopping.is_set():
                if self._ready is None or self._ready():
                    try:
                        self.post_round()
                    except Exception:
                        logger.exception("simulated gateway: round failed")
                    # Late rounds are skipped rather than bunched up.
                    next_round = max(next_round + self.interval_s, time.monotonic())
                else:
                    next_round = time.monotonic() + 0.05
                self._stopping.wait(max(0.0, next_round - time.monotonic()))
        finally:
            self.close()

    def post_round(self, now: datetime | None = None) -> RoundResult:
        """Sample every section at `now` (default: the current second) and post them."""
        now = now or datetime.now(SHANGHAI).replace(microsecond=0)
        started = time.monotonic()
        sample = self._simulator.sample(now)
        stamp = now.isoformat()
        counts = dict.fromkeys(("accepted", "duplicate", "revised", "refused"), 0)
        posted = failed = 0
        errors: list[httpx.TransportError] = []
        for section, values in sample.by_section().items():
            if self._halted():
                break  # shutting down: the rest would only meet a closed port
            station = self._stations.get(section)
            if station is None:
                continue
            reading: dict[str, Any] = {"time": stamp, "values": values}
            if section in sample.flags:
                reading["flags"] = dict(sample.flags[section])
            posted += 1
            try:
                answer = self._post(station, reading)
            except httpx.TransportError as exc:
                errors.append(exc)
                failed += 1
                continue
            if answer is None:
                failed += 1
                continue
            self._got_through = True
            for name in counts:
                counts[name] += int(answer[name])
        self._rounds += 1
        result = RoundResult(
            now,
            posted,
            accepted=counts["accepted"],
            duplicate=counts["duplicate"],
            revised=counts["revised"],
            refused=counts["refused"],
            failed=failed,
        )
        self._log_round(result, errors, time.monotonic() - started)
        return result

    def _halted(self) -> bool:
        return self._stopping.is_set() or (self._ready is not None and not self._ready())

    def _post(self, station: DemoStation, reading: dict[str, Any]) -> dict[str, Any] | None:
        """The ingest answer, or None (logged) when the post was rejected whole."""
        response = self._client.post(
            READINGS_PATH,
            json={"station": station.station_code, "readings": [reading]},
            headers={"Authorization": f"Bearer {station.key}"},
        )
        if response.status_code not in (200, 422):
            logger.error(
                "simulated gateway: %s got HTTP %d: %s",
                station.station_code,
                response.status_code,
                response.text[:500],
            )
            return None
        answer: dict[str, Any] = response.json()
        if answer["errors"]:
            logger.warning(
                "simulated gateway: %s had values refused: %s",
                station.station_code,
                answer["errors"][:3],
            )
        return answer

    def _log_round(
        self, result: RoundResult, errors: list[httpx.TransportError], seconds: float
    ) -> None:
        starting = (
            bool(errors)
            and not self._got_through
            and time.monotonic() < self._quiet_until
            and all(isinstance(e, httpx.ConnectError) for e in errors)
        )
        if errors:
            logger.log(
                logging.DEBUG if starting else logging.ERROR,
                "simulated gateway: %d of %d posts did not get through%s",
                len(errors),
                result.stations,
                " (server starting?)" if starting else "",
                exc_info=errors[0],
            )
        logger.log(
            logging.DEBUG if starting else logging.INFO,
            "simulated gateway: round %d at %s: %d stations, %d accepted, %d duplicate, "
            "%d revised, %d refused, %d failed (%.2f s)",
            self._rounds,
            result.time.isoformat(),
            result.stations,
            result.accepted,
            result.duplicate,
            result.revised,
            result.refused,
            result.failed,
            seconds,
        )


class _QuietPosts(logging.Filter):
    """Drops the per-request log lines of the demo's posts: 18 every 5 s would bury the rest.

    httpx: any request from the gateway's thread. uvicorn's access log: successful posts of
    readings from this machine; errors, other paths and remote stations are still logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "httpx":
            return threading.current_thread().name != _THREAD_NAME
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, _, status = args
            local = str(client).startswith(("127.0.0.1:", "[::1]:", "::1:"))
            return not (local and method == "POST" and path == READINGS_PATH and status == 200)
        return True


_QUIET_POSTS: Final = _QuietPosts()


def local_url(host: str, port: int) -> str:
    """The URL to reach a server listening on host:port from this machine."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_with_gateway(
    server: uvicorn.Server, gateway: Gateway, sockets: list[socket.socket] | None = None
) -> None:
    """Run the server in this thread and the gateway beside it; both stop together.

    In the main thread uvicorn handles SIGINT and SIGTERM: it shuts down, server.run()
    returns (or raises), and the gateway is stopped on the way out.
    """
    gateway.start()
    try:
        server.run(sockets=sockets)
    finally:
        gateway.stop()
        gateway.join(timeout=gateway.interval_s + 15.0)
        if gateway.is_alive():
            logger.error("simulated gateway did not stop in time; abandoning its thread")


@dataclass(frozen=True, slots=True)
class DemoFeed:
    stations: Mapping[str, DemoStation]
    simulator: Simulator
    interval_s: float


def prepare_demo(
    session: Session, interval_s: float = DEFAULT_INTERVAL_S, seed: int | None = None
) -> DemoFeed:
    """Demo stations (keyed afresh) and their simulator; the caller commits."""
    stations = ensure_demo_stations(session, interval_s)
    return DemoFeed(stations, simulator_for(session, stations, seed), interval_s)


def serve_demo(
    app: FastAPI, *, host: str, port: int, feed: DemoFeed, log_level: str = "info"
) -> None:
    """uvicorn.run(app) plus the simulated gateway, which starts once the server listens."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level=log_level, log_config=None)
    )
    logging.getLogger("uvicorn.access").addFilter(_QUIET_POSTS)
    # A "batch stored" line per station every few seconds: the round summary stands for them.
    logging.getLogger("app.ingest.service").setLevel(logging.WARNING)
    gateway = Gateway(
        local_url(host, port),
        feed.stations,
        feed.simulator,
        interval_s=feed.interval_s,
        ready=lambda: server.started and not server.should_exit,
    )
    run_with_gateway(server, gateway)
