"""argon2id password hashes (argon2-cffi's defaults: RFC 9106's low-memory profile)."""

from __future__ import annotations

import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import BadRequest

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 takes any length; a bound keeps a huge body from costing CPU
# Each hash takes 64 MiB and a core for a while: a flood of sign-ins waits its turn
# rather than exhausting the process's memory.
_HASHING = threading.BoundedSemaphore(2)


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def check_strength(password: str) -> str:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise BadRequest(f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    check_strength(password)
    with _HASHING:
        return _hasher().hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Constant work whether or not there is a stored hash, so timing tells nothing."""
    if len(password) > MAX_LENGTH:
        return False
    if stored is None:
        stored = _dummy()
        password = ""
    try:
        with _HASHING:
            matched = _hasher().verify(stored, password)
        return matched and stored != _dummy()
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy() -> str:
    return _hasher().hash("not a password of anyone's")


def rehash(password: str) -> str:
    """A fresh hash of a password that just verified (its length was allowed then)."""
    with _HASHING:
        return _hasher().hash(password)


def needs_rehash(stored: str) -> bool:
    return _hasher().check_needs_rehash(stored)
