"""Writing messages to the outbox, in the caller's transaction.

A message is decided and recorded together with the incident change that caused it:
either both commit or neither does, so a crash can neither lose a decided message nor
send one for a change that never happened. The dispatcher delivers what is committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from alerts.channels.base import ChannelKind, OutboundMessage
from alerts.models import OUTBOX_STATES, OutboxMessage
from core.errors import BadRequest, Conflict, NotFound


def new_idempotency_key() -> str:
    return f"msg_{uuid.uuid4().hex}"


def enqueue(
    session: Session,
    *,
    channel: ChannelKind,
    recipient: str,
    event: str,
    text: str,
    payload: Mapping[str, Any],
    incident_id: int | None = None,
    contact_id: int | None = None,
    not_before: datetime | None = None,
    idempotency_key: str | None = None,
) -> OutboxMessage:
    """Add a message; it is due at `not_before` (quiet hours) or as soon as committed."""
    message = OutboxMessage(
        idempotency_key=idempotency_key or new_idempotency_key(),
        channel=channel.value,
        recipient=recipient,
        event=event,
        text=text,
        payload=dict(payload),
        incident_id=incident_id,
        contact_id=contact_id,
    )
    if not_before is not None:
        message.next_attempt_at = not_before
    session.add(message)
    return message


def to_outbound(message: OutboxMessage) -> OutboundMessage:
    """The channel's view of a stored message; every attempt carries the same key."""
    return OutboundMessage(
        idempotency_key=message.idempotency_key,
        kind=ChannelKind(message.channel),
        event=message.event,
        recipient=message.recipient,
        text=message.text,
        payload=message.payload,
        created_at=message.created_at,
        unconfirmed_since=message.unconfirmed_at,
    )


def cancel_pending(
    session: Session,
    incident_id: int,
    events: tuple[str, ...],
    reason: str,
    *,
    contact_id: int | None = None,
    channel: ChannelKind | None = None,
) -> int:
    """Cancel an incident's messages not sent yet (a reminder after the ack, say).

    A message a dispatcher holds a live lease on is being sent: it is left alone.
    """
    stmt = update(OutboxMessage).where(
        OutboxMessage.incident_id == incident_id,
        OutboxMessage.status == "pending",
        OutboxMessage.event.in_(events),
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < func.now()),
    )
    if contact_id is not None:
        stmt = stmt.where(OutboxMessage.contact_id == contact_id)
    if channel is not None:
        stmt = stmt.where(OutboxMessage.channel == channel.value)
    cancelled = session.execute(
        stmt.values(status="cancelled", last_error=reason).returning(OutboxMessage.id),
        execution_options={"synchronize_session": False},
    ).all()
    return len(cancelled)


# The API's view of the outbox: the notification log and the dead letters. These take
# the caller's session and never commit, as the other services do.


def list_messages(
    session: Session,
    *,
    incident_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[OutboxMessage]:
    """Newest first."""
    if status is not None and status not in OUTBOX_STATES:
        raise BadRequest(f"status must be one of {', '.join(OUTBOX_STATES)}")
    if limit < 1 or offset < 0:
        raise BadRequest("limit must be positive and offset not negative")
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit).offset(offset)
    if incident_id is not None:
        stmt = stmt.where(OutboxMessage.incident_id == incident_id)
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    return session.scalars(stmt).all()


def list_dead(session: Session, limit: int = 50, offset: int = 0) -> Sequence[OutboxMessage]:
    return list_messages(session, status="dead", limit=limit, offset=offset)


def retry_dead(session: Session, message_id: int) -> OutboxMessage:
    """Put a dead letter back in the queue, due now; attempts and last_error are kept.

    Its age still counts from created_at, so a message older than max_age gets one
    attempt per retry: a failure sends it straight back to the dead letters.
    """
    revived = session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "dead")
        .values(status="pending", next_attempt_at=func.now(), lease_until=None)
        .returning(OutboxMessage),
        execution_options={"populate_existing": True},
    ).one_or_none()
    if revived is not None:
        return revived
    if session.get(OutboxMessage, message_id) is None:
        raise NotFound(f"no outbox message {message_id}")
    raise Conflict(f"outbox message {message_id} is not a dead letter")
