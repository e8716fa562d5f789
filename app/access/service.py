"""Users, their roles and zones, and API tokens. Callers own the transaction."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from alerts.models import Contact, SectionContact
from app.access import passwords
from app.access.models import ApiToken, User
from app.access.policy import Principal, Role
from core.errors import BadRequest, Conflict, NotFound
from core.models import Section, Zone

TOKEN_PREFIX = "rwt_"
USERNAME_MAX = 64


def token_hash(token: str) -> str:
    # 256 random bits: a plain SHA-256 is enough, no slow KDF needed.
    return hashlib.sha256(token.encode()).hexdigest()


def _zones(session: Session, names: Sequence[str]) -> list[Zone]:
    found = session.scalars(select(Zone).where(Zone.name.in_(names))).all()
    missing = sorted(set(names) - {z.name for z in found})
    if missing:
        raise NotFound(f"no zone {', '.join(missing)}")
    return list(found)


def _check_role(role: str, zones: Sequence[str], contact_id: int | None) -> Role:
    try:
        checked = Role(role)
    except ValueError:
        raise BadRequest(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if checked is Role.ZONE_OFFICER and not zones:
        raise BadRequest("a zone officer needs at least one zone")
    if checked is not Role.ZONE_OFFICER and zones:
        raise BadRequest("only zone officers have zones")
    if checked is Role.RIVER_CHIEF and contact_id is None:
        raise BadRequest("a river chief's user names their contact")
    return checked


def _contact(session: Session, contact_id: int | None) -> int | None:
    if contact_id is not None and session.get(Contact, contact_id) is None:
        raise NotFound(f"no contact {contact_id}")
    return contact_id


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).options(selectinload(User.zones)).order_by(User.id)).all()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def user_by_name(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def add_user(
    session: Session,
    *,
    username: str,
    role: str,
    password: str | None = None,
    display_name: str = "",
    zones: Sequence[str] = (),
    contact_id: int | None = None,
) -> User:
    username = username.strip()
    if not username or len(username) > USERNAME_MAX or any(c.isspace() for c in username):
        raise BadRequest(f"a username has 1 to {USERNAME_MAX} characters and no spaces")
    checked = _check_role(role, zones, contact_id)
    if session.scalars(select(User.id).where(User.username == username)).first() is not None:
        raise Conflict(f"user {username!r} exists")
    user = User(
        username=username,
        display_name=display_name,
        role=checked.value,
        password_hash=passwords.hash_password(password) if password is not None else None,
        contact_id=_contact(session, contact_id),
        active=True,
        failed_logins=0,
    )
    user.zones = _zones(session, zones)
    session.add(user)
    session.flush()
    return user


def set_role(
    session: Session,
    user: User,
    role: str,
    *,
    zones: Sequence[str] = (),
    contact_id: int | None = None,
) -> User:
    checked = _check_role(role, zones, contact_id if contact_id is not None else user.contact_id)
    user.role = checked.value
    user.zones = _zones(session, zones)
    if contact_id is not None:
        user.contact_id = _contact(session, contact_id)
    session.flush()
    return user


def set_active(session: Session, user: User, active: bool, *, now: datetime) -> User:
    user.active = active
    if not active:
        # A disabled user's sessions and tokens end with it.
        for token in session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        ):
            token.revoked_at = now
        from app.access.sessions import end_sessions  # sessions import this module

        end_sessions(session, user.id)
    session.flush()
    return user


def reset_password(session: Session, user: User, password: str | None = None) -> str:
    """Set a password (or a generated one, returned to show once); unlocks the user."""
    chosen = password if password is not None else secrets.token_urlsafe(12)
    user.password_hash = passwords.hash_password(chosen)
    user.failed_logins = 0
    user.locked_until = None
    from app.access.sessions import end_sessions

    end_sessions(session, user.id)
    session.flush()
    return chosen


# --- API tokens -----------------------------------------------------------------------


def create_token(
    session: Session, user: User, *, name: str, ttl: timedelta, now: datetime
) -> tuple[ApiToken, str]:
    """A new token; the token itself is returned this once and never stored."""
    if not user.active:
        raise Conflict(f"user {user.username!r} is disabled")
    name = name.strip()
    if not name or len(name) > 64:
        raise BadRequest("a token's name has 1 to 64 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=token_hash(token), expires_at=now + ttl)
    session.add(row)
    session.flush()
    return row, token


def list_tokens(session: Session, user_id: int | None = None) -> Sequence[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    return session.scalars(stmt).all()


def revoke_token(session: Session, token_id: int, *, now: datetime, owner: int | None) -> ApiToken:
    """Revoke (idempotent). With an owner, someone else's token is not found."""
    row = session.get(ApiToken, token_id)
    if row is None or (owner is not None and row.user_id != owner):
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()
    return row


# --- who a user is, for a request -----------------------------------------------------


def section_scope(session: Session, user: User) -> frozenset[int] | None:
    """The sections a user reaches: None for every section."""
    role = Role(user.role)
    if role is Role.ZONE_OFFICER:
        zone_ids = [z.id for z in user.zones]
        return frozenset(session.scalars(select(Section.id).where(Section.zone_id.in_(zone_ids))))
    if role is Role.RIVER_CHIEF:
        if user.contact_id is None:
            return frozenset()
        return frozenset(
            session.scalars(
                select(SectionContact.section_id).where(
                    SectionContact.contact_id == user.contact_id
                )
            )
        )
    return None


def principal_for(session: Session, user: User, via: str) -> Principal:
    return Principal(
        username=user.username,
        role=Role(user.role),
        via=via,
        user_id=user.id,
        section_ids=section_scope(session, user),
        zone_ids=frozenset(z.id for z in user.zones),
    )
