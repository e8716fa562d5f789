"""The audit log, written by a flush listener: every change to an audited table made by
a known actor (request or CLI) gets its entry in the same transaction, with the before
and after of the changed columns. Secrets and phone numbers are never copied."""

from __future__ import annotations

import getpass
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, event, insert, inspect, select
from sqlalchemy.orm import Session, UOWTransaction

from alerts.models import (
    AlertRule,
    Contact,
    EscalationTier,
    Incident,
    MuteWindow,
    SectionContact,
    WebhookEndpoint,
)
from app.access.models import ApiToken, AuditEntry, User, UserZone
from core.models import Station, UpstreamLink

ACTOR_KEY = "riverwatch.audit_actor"

AUDITED: dict[type, str] = {
    Contact: "contact",
    WebhookEndpoint: "webhook",
    SectionContact: "assignment",
    EscalationTier: "escalation",
    AlertRule: "rule",
    MuteWindow: "mute",
    Incident: "incident",
    Station: "station",
    UpstreamLink: "upstream_link",
    User: "user",
    UserZone: "user_zone",
    ApiToken: "api_token",
}
SECRET = frozenset({"secret", "password_hash", "token_hash", "api_key_hash"})
# Bookkeeping, not decisions: a change to these alone is no entry.
NOISE = frozenset({"last_used_at", "failed_logins", "locked_until", "updated_at"})
MASKED = frozenset({"phone"})


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    via: str
    user_id: int | None = None
    ip: str | None = None


def set_actor(session: Session, actor: Actor) -> None:
    """Changes this session flushes from now on are audited as this actor's."""
    session.info[ACTOR_KEY] = actor


# Engines the CLI made: every change through them is the operator's at the terminal.
_ENGINE_ACTORS: weakref.WeakKeyDictionary[Engine, Actor] = weakref.WeakKeyDictionary()


def audit_cli(engine: Engine) -> None:
    """Changes through this engine's sessions are audited as the CLI user's (unless a
    session names its own actor)."""
    _ENGINE_ACTORS[engine] = Actor(f"cli:{getpass.getuser()}", "cli")


def _actor(session: Session) -> Actor | None:
    actor = session.info.get(ACTOR_KEY)
    if isinstance(actor, Actor):
        return actor
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return _ENGINE_ACTORS.get(engine)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _shown(key: str, value: Any) -> Any:
    if key in SECRET:
        return "***" if value is not None else None
    if key in MASKED and isinstance(value, str) and len(value) > 4:
        return "*" * (len(value) - 4) + value[-4:]
    return _plain(value)


def _columns(obj: object) -> list[str]:
    return [a.key for a in inspect(obj).mapper.column_attrs]


def _snapshot(obj: object) -> dict[str, Any]:
    state = inspect(obj)
    return {k: _shown(k, state.dict[k]) for k in _columns(obj) if k in state.dict}


def _changes(obj: object) -> tuple[dict[str, Any], dict[str, Any]]:
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in _columns(obj):
        history = state.attrs[key].history
        if not history.has_changes() or key in NOISE:
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old == new:
            continue
        before[key], after[key] = _shown(key, old), _shown(key, new)
    return before, after


def _object_id(obj: object) -> str:
    # After a flush, before its bookkeeping: new objects have their keys, not yet an identity.
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return "/".join(str(v) for v in key)


def _entries(session: Session, actor: Actor) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(obj: object, action: str, before: Any, after: Any) -> None:
        rows.append(
            {
                "actor": actor.name,
                "actor_user_id": actor.user_id,
                "via": actor.via,
                "ip": actor.ip,
                "action": action,
                "object_type": AUDITED[type(obj)],
                "object_id": _object_id(obj),
                "before": before,
                "after": after,
            }
        )

    for obj in session.new:
        if type(obj) in AUDITED:
            add(obj, "create", None, _snapshot(obj))
    for obj in session.dirty:
        if type(obj) in AUDITED and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)
            if after or before:
                add(obj, "update", before, after)
    for obj in session.deleted:
        if type(obj) in AUDITED:
            add(obj, "delete", _snapshot(obj), None)
    return rows


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    after: dict[str, Any] | None = None,
) -> None:
    """An entry for an event that is no row change (a sign-in, a refused sign-in)."""
    session.execute(
        insert(AuditEntry).values(
            actor=actor.name,
            actor_user_id=actor.user_id,
            via=actor.via,
            ip=actor.ip,
            action=action,
            object_type=object_type,
            object_id=object_id,
            after=after,
        )
    )


@event.listens_for(Session, "after_flush")
def _audit_flush(session: Session, _flush: UOWTransaction) -> None:
    actor = _actor(session)
    if actor is None:
        return
    rows = _entries(session, actor)
    if rows:
        # Core insert on the flush's connection: same transaction, no second ORM flush.
        session.connection().execute(insert(AuditEntry), rows)


def list_entries(
    session: Session,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[AuditEntry]:
    """Newest first."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    if object_type is not None:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if actor is not None:
        stmt = stmt.where(AuditEntry.actor == actor)
    return session.scalars(stmt).all()
