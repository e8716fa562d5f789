"""A dispatcher on its own, without the service: `python -m alerts.dispatch_loop` delivers
the outbox until SIGTERM, configured from RIVERWATCH_* settings (the reliability scripts
run replicas this way)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import fields
from types import FrameType

import httpx

from alerts.dispatcher import DispatchStats, build_channels, dispatcher_for, endpoint_secrets
from core.settings import Settings

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    from core.db import make_engine, make_sessionmaker

    parser = argparse.ArgumentParser(
        prog="python -m alerts.dispatch_loop",
        description="Deliver the outbox until SIGTERM; settings from RIVERWATCH_* variables.",
    )
    parser.add_argument("--database-url", help="default: RIVERWATCH_DATABASE_URL")
    parser.add_argument(
        "--interval",
        type=float,
        help="seconds between polls; default RIVERWATCH_DISPATCH_INTERVAL_S",
    )
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4, help="sends in flight at once")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every batch")
    args = parser.parse_args(argv)
    from core import logs

    settings = Settings()
    logs.configure_from(settings)
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    url = args.database_url or settings.database_url
    if url is None:
        # The embedded server belongs to the `riverwatch` process that started it.
        parser.error("no database: pass --database-url or set RIVERWATCH_DATABASE_URL")
    interval = settings.dispatch_interval_s if args.interval is None else args.interval

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    engine = make_engine(url, pool_size=args.concurrency + 1)
    sessions = make_sessionmaker(engine)
    totals = {field.name: 0 for field in fields(DispatchStats)}
    with httpx.Client() as client:
        channels = build_channels(settings, client, endpoint_secrets(sessions))
        dispatcher = dispatcher_for(
            settings, sessions, channels, batch_size=args.batch_size, concurrency=args.concurrency
        )
        log.info("dispatching %s every %ss", ", ".join(channels), interval)
        while not stop.is_set():
            try:
                stats = dispatcher.dispatch_once()
            except Exception:
                # The database or the network may come back: log and poll again.
                log.exception("dispatch failed")
                stop.wait(interval)
                continue
            for name in totals:
                totals[name] += getattr(stats, name)
            if stats.claimed:
                log.debug("batch: %s", stats)
            # A full batch means more is due: go again without waiting.
            if stats.claimed < args.batch_size:
                stop.wait(interval)
    engine.dispose()
    log.info("stopped: %s", ", ".join(f"{k} {v}" for k, v in totals.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
