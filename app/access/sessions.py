"""Sign-in sessions: the cookie carries a random token, the table its hash. Failed
sign-ins count per user; past the limit the user is locked out for a while, doubling
with each further lockout (the count is reset by a success or a password reset)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from app.access import passwords
from app.access.models import User, WebSession
from app.access.service import token_hash

MAX_LOCKOUT = timedelta(days=1)


def end_sessions(session: Session, user_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def start_session(session: Session, user: User, *, ttl: timedelta, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    session.add(WebSession(user_id=user.id, token_hash=token_hash(token), expires_at=now + ttl))
    # Expired sessions of this user go as a new one starts: the table stays small.
    session.execute(
        delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at <= now)
    )
    session.flush()
    return token


def end_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


def session_user(session: Session, token: str, *, now: datetime) -> User | None:
    row = (
        session.scalars(
            select(WebSession)
            .options(joinedload(WebSession.user).joinedload(User.zones))
            .where(WebSession.token_hash == token_hash(token))
        )
        .unique()
        .one_or_none()
    )
    if row is None or row.expires_at <= now or not row.user.active:
        return None
    return row.user


def csrf_token(secret: str, session_token: str) -> str:
    """The form token of a session: derived, so nothing more is stored."""
    return hmac.new(secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, session_token: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(secret, session_token), given)


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User | None
    locked_until: datetime | None = None
    known: bool = True  # the name is a user's (a mistyped password in it is not logged)


def check_login(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime,
    max_failures: int,
    lockout: timedelta,
) -> LoginResult:
    """The user if the password is right and they may sign in; counts failures."""
    user = session.scalars(
        select(User).where(User.username == username.strip()).with_for_update()
    ).one_or_none()
    if user is None:
        passwords.verify(None, password)  # the same work as for a real user
        return LoginResult(None, known=False)
    if user.locked_until is not None and user.locked_until > now:
        # A right password does not unlock early; the work is done all the same.
        passwords.verify(user.password_hash, password)
        return LoginResult(None, user.locked_until)
    if not passwords.verify(user.password_hash, password) or not user.active:
        user.failed_logins += 1
        over = user.failed_logins - max_failures
        if over >= 0:
            user.locked_until = now + min(lockout * (2 ** min(over, 16)), MAX_LOCKOUT)
        session.flush()
        return LoginResult(None, user.locked_until if over >= 0 else None)
    user.failed_logins = 0
    user.locked_until = None
    assert user.password_hash is not None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.rehash(password)
    session.flush()
    return LoginResult(user)
