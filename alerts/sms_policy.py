"""The dispatcher's SMS rules: per-number rate limits and handset receipts.

Limits count the texts the provider accepted for one number in rolling windows of a
minute and a day (ix_outbox_sms_recipient); a message over a limit is held back, not
attempted, until the window frees. Receipts are asked of the provider for accepted texts
of the last days that have none yet (ix_outbox_awaiting_receipt), and stored once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from alerts import metrics
from alerts.channels.base import Channel
from alerts.channels.provider import PendingReceipt, Receipt

log = logging.getLogger(__name__)

_NOW = "coalesce(CAST(:now AS timestamptz), now())"

_RECENT_SMS = text(f"""
    SELECT count(*) FILTER (WHERE delivered_at > {_NOW} - interval '1 minute') AS minute,
           count(*) AS day,
           extract(epoch FROM min(delivered_at) FILTER (
               WHERE delivered_at > {_NOW} - interval '1 minute') - ({_NOW} - interval '1 minute'))
               AS minute_frees_in,
           extract(epoch FROM min(delivered_at) - ({_NOW} - interval '1 day')) AS day_frees_in
    FROM outbox
    WHERE channel = 'sms' AND status = 'delivered' AND recipient = :recipient
      AND delivered_at > {_NOW} - interval '1 day'
""")

_AWAITING_RECEIPT = text(f"""
    SELECT id, idempotency_key, provider_message_id, recipient, delivered_at FROM outbox
    WHERE channel = 'sms' AND status = 'delivered' AND receipt_status IS NULL
      AND delivered_at > {_NOW} - :horizon
    ORDER BY delivered_at
    LIMIT :limit
""")

_RECEIPT = text("""
    UPDATE outbox SET receipt_status = :status, receipt_at = :at, receipt_error = :error
    WHERE id = :id AND receipt_status IS NULL
""")


def rate_wait(
    sessions: sessionmaker[Session],
    recipient: str,
    limits: tuple[int, int],
    now: datetime | None,
) -> tuple[float, str] | None:
    """(seconds to wait, reason) if the number's limits are reached; None to send."""
    per_minute, per_day = limits
    with sessions() as session:
        row = session.execute(_RECENT_SMS, {"recipient": recipient, "now": now}).one()
    if row.day >= per_day:
        return float(row.day_frees_in or 60) + 1, f"rate limit: {per_day} texts a day"
    if row.minute >= per_minute:
        return float(row.minute_frees_in or 1) + 0.5, f"rate limit: {per_minute} texts a minute"
    return None


def collect_receipts(
    sessions: sessionmaker[Session],
    channel: Channel | None,
    now: datetime | None,
    *,
    limit: int,
    horizon: timedelta,
) -> int:
    source = getattr(channel, "receipts", None)
    if source is None:  # the generic gateway has no status pull
        return 0
    with sessions() as session:
        rows = session.execute(
            _AWAITING_RECEIPT, {"now": now, "horizon": horizon, "limit": limit}
        ).all()
    if not rows:
        return 0
    pending = [
        PendingReceipt(r.id, r.idempotency_key, r.provider_message_id, r.recipient, r.delivered_at)
        for r in rows
    ]
    receipts: list[Receipt] = source(pending)
    if not receipts:
        return 0
    with sessions.begin() as session:
        for receipt in receipts:
            session.execute(
                _RECEIPT,
                {
                    "id": receipt.outbox_id,
                    "status": receipt.status.value,
                    "at": receipt.at,
                    "error": receipt.error,
                },
            )
    for receipt in receipts:
        metrics.SMS_RECEIPTS.labels(receipt.status.value).inc()
        log.info(
            "SMS receipt", extra={"outbox_id": receipt.outbox_id, "receipt": receipt.status.value}
        )
    return len(receipts)
