"""GET /metrics in the Prometheus text format.

Counters and histograms live in alerts.metrics. With PROMETHEUS_MULTIPROC_DIR set (the
CLI sets it for `serve --workers N`) a scrape sums every worker's files; otherwise it
is this process's registry. The outbox gauges are read from the database at scrape
time, so any process answers the same. RIVERWATCH_METRICS_TOKEN, when set, is required
as a bearer token; production without one does not expose metrics.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.errors import Forbidden, Unauthorized
from core.settings import Environment, Settings

router = APIRouter(tags=["health"])

_DEPTH = text("""
    SELECT channel, status, count(*) AS n,
           extract(epoch FROM now() - min(created_at)) AS oldest
    FROM outbox WHERE status IN ('pending', 'dead')
    GROUP BY channel, status
""")


class OutboxCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "riverwatch_outbox_messages",
            "Outbox messages by channel and state",
            labels=["channel", "state"],
        )
        oldest = GaugeMetricFamily(
            "riverwatch_outbox_oldest_pending_seconds",
            "Age of the oldest pending message by channel",
            labels=["channel"],
        )
        with self._sessions() as session:
            rows = session.execute(_DEPTH).all()
        seen = {(r.channel, r.status) for r in rows}
        for row in rows:
            depth.add_metric([row.channel, row.status], row.n)
            if row.status == "pending":
                oldest.add_metric([row.channel], float(row.oldest or 0))
        for channel in ("sms", "webhook"):
            for state in ("pending", "dead"):
                if (channel, state) not in seen:
                    depth.add_metric([channel, state], 0)
        yield depth
        yield oldest


def _authorize(request: Request, settings: Settings) -> None:
    token = settings.metrics_token
    if token is None:
        if settings.env is Environment.PRODUCTION:
            raise Forbidden("metrics need RIVERWATCH_METRICS_TOKEN in production")
        return
    given = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("metrics need the metrics token")


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    _authorize(request, settings)
    counters: CollectorRegistry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        MultiProcessCollector(counters)  # type: ignore[no-untyped-call]
    gauges = CollectorRegistry()
    gauges.register(OutboxCollector(request.app.state.sessionmaker))
    body = generate_latest(counters) + generate_latest(gauges)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
