"""The service's Prometheus metrics, defined once.

With several worker processes (`serve --workers N`) the CLI sets PROMETHEUS_MULTIPROC_DIR
before the workers start, and prometheus-client then keeps each process's values in
files there that a scrape sums (app.metrics). Gauges of the outbox are not kept here:
they are read from the database at scrape time, so every process reports the same.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

READINGS = Counter(
    "riverwatch_readings_total",
    "Readings received, by outcome (accepted, duplicate, revised, refused) and path",
    ["outcome", "path"],
)
READINGS_REFUSED = Counter(
    "riverwatch_readings_refused_total",
    "Readings refused, by reason and path",
    ["reason", "path"],
)
QC_FLAGS = Counter("riverwatch_qc_flags_total", "QC flags given to stored readings", ["flag"])
EVALUATOR_RUNS = Counter("riverwatch_evaluator_runs_total", "Evaluator runs")
EVALUATOR_LAG = Histogram(
    "riverwatch_evaluator_lag_seconds",
    "From the newest reading's arrival to its judgement",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
INCIDENTS_OPENED = Counter(
    "riverwatch_incidents_opened_total", "Incidents opened", ["rule", "severity"]
)
INCIDENTS_RESOLVED = Counter(
    "riverwatch_incidents_resolved_total", "Incidents resolved", ["rule", "severity"]
)
DELIVERY_ATTEMPTS = Counter(
    "riverwatch_delivery_attempts_total",
    "Delivery attempts recorded, by channel and outcome (delivered, pending, dead, stale)",
    ["channel", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "riverwatch_delivery_latency_seconds",
    "From a message's creation to its acceptance by the receiver",
    ["channel"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 7200),
)
DEAD_LETTERS = Counter("riverwatch_dead_letters_total", "Messages given up", ["channel"])
SMS_UNCONFIRMED = Counter(
    "riverwatch_sms_unconfirmed_total",
    "SMS attempts whose answer was lost (looked up before any new send)",
)
SMS_RECEIPTS = Counter("riverwatch_sms_receipts_total", "Handset receipts recorded", ["status"])
JOB_DURATION = Histogram(
    "riverwatch_job_duration_seconds",
    "Scheduler job runs",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
JOB_FAILURES = Counter("riverwatch_job_failures_total", "Scheduler job failures", ["job"])
