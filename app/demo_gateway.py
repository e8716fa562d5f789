"""The demo's simulated gateway: a thread posting every demo station's sample each few
seconds over real HTTP (and, for some, over HJ 212), and the server it runs beside."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

import httpx
import uvicorn

from app.hj212.demo import LoggerClient
from sensors.local_time import SHANGHAI
from sensors.simulator import Simulator

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S: Final = 5.0
READINGS_PATH: Final = "/api/v1/readings"
_THREAD_NAME: Final = "demo-gateway"


class DemoStation(NamedTuple):
    station_code: str
    key: str


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
        hj212: Mapping[str, LoggerClient] | None = None,
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
        self._hj212 = dict(hj212 or {})  # section → its logger over HJ 212 (the rest: HTTP)
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s, trust_env=False)
        self._stopping = threading.Event()
        # Composed, not inherited: Thread's own private names (_stop, _started) are taken.
        self._thread = threading.Thread(target=self._run, name=_THREAD_NAME, daemon=True)
        self._quiet_until = time.monotonic() + startup_grace_s
        self._got_through = False
        self._rounds = 0

    def start(self) -> None:
        logging.getLogger("httpx").addFilter(QUIET_POSTS)  # the round summary stands for them
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
            for client in self._hj212.values():
                client.close()

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
            if section in self._hj212:
                stored = self._hj212[section].upload(now, values, reading.get("flags", {}))
                counts["accepted"] += len(values) if stored else 0
                failed += not stored
                continue
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


QUIET_POSTS: Final = _QuietPosts()


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
