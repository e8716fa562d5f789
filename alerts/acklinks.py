"""Signed, expiring acknowledgement links for SMS and webhook messages.

A token is the unpadded base64url of 27 bytes, always 36 characters:

    version (1) | incident id (6, uint48) | contact id (4, uint32, 0 = none)
    | expiry (4, uint32 unix seconds) | HMAC-SHA256 tag (12, truncated)

SMS is billed per 70-character part and the link rides at the end of every alert, so
the token is packed binary rather than JSON or a JWT (which would be 150+ characters).
27 bytes is a multiple of 3: the encoding has no padding and no spare bits, so each
token has exactly one spelling.

Why 96 bits of tag are enough: without the key a forger can only test guesses online,
one HTTP request each, and must hit one of 2^96 tags; even at a million requests a
second that takes ~10^15 years. Offline work does not help, as the tag of a known
token says nothing usable about the key (HMAC is a PRF). NIST SP 800-107 allows
truncation on this argument; RFC 2404's HMAC-SHA1-96 uses the same length.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

VERSION = 1
TAG_BYTES = 12
_BODY = struct.Struct(">B6sII")  # version, incident id (48-bit big-endian), contact, expiry
TOKEN_BYTES = _BODY.size + TAG_BYTES
TOKEN_CHARS = TOKEN_BYTES * 4 // 3

_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_MAX_INCIDENT = 2**48 - 1
_MAX_U32 = 2**32 - 1
# Derives the link key from the application secret, so a tag made here can never be
# mistaken for (or replayed as) another signature made with the same secret.
_PURPOSE = b"riverwatch/ack-link/v1"


class InvalidAckLink(ValueError):
    """The link cannot acknowledge anything: malformed, forged, or expired."""


class ExpiredAckLink(InvalidAckLink):
    """Authentic but past its expiry: the person should use a newer message."""

    def __init__(self, message: str, claim: AckClaim) -> None:
        super().__init__(message)
        self.claim = claim


@dataclass(frozen=True, slots=True)
class AckClaim:
    incident_id: int
    contact_id: int | None
    expires_at: datetime


def _key(secret: bytes | str) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    if not raw:
        raise ValueError("the ack link secret is empty")
    return hmac.new(raw, _PURPOSE, hashlib.sha256).digest()


def _tag(secret: bytes | str, body: bytes) -> bytes:
    return hmac.new(_key(secret), body, hashlib.sha256).digest()[:TAG_BYTES]


def make_token(
    secret: bytes | str, incident_id: int, contact_id: int | None, expires_at: datetime
) -> str:
    if expires_at.utcoffset() is None:
        raise ValueError("expires_at must be timezone-aware")
    if not 1 <= incident_id <= _MAX_INCIDENT:
        raise ValueError(f"incident id {incident_id} does not fit an ack link")
    if contact_id is not None and not 1 <= contact_id <= _MAX_U32:
        raise ValueError(f"contact id {contact_id} does not fit an ack link")
    expiry = int(expires_at.timestamp())
    if not 0 < expiry <= _MAX_U32:
        raise ValueError(f"expiry {expires_at.isoformat()} does not fit an ack link")
    body = _BODY.pack(VERSION, incident_id.to_bytes(6, "big"), contact_id or 0, expiry)
    return base64.urlsafe_b64encode(body + _tag(secret, body)).decode("ascii")


def read_token(secret: bytes | str, token: str, now: datetime) -> AckClaim:
    """The token's claim if it is authentic and unexpired; InvalidAckLink otherwise."""
    if len(token) != TOKEN_CHARS:
        raise InvalidAckLink("malformed ack link: wrong length")
    # The decoder would also take "+" and "/"; refusing them keeps one spelling per token.
    if not _ALPHABET.fullmatch(token):
        raise InvalidAckLink("malformed ack link: not base64url")
    raw = base64.urlsafe_b64decode(token)
    body, tag = raw[: _BODY.size], raw[_BODY.size :]
    # Authenticate before reading any field, so nothing about a forged body is acted on.
    if not hmac.compare_digest(tag, _tag(secret, body)):
        raise InvalidAckLink("ack link signature does not match")
    version, incident, contact, expiry = _BODY.unpack(body)
    if version != VERSION:
        raise InvalidAckLink(f"ack link version {version} is not supported")
    claim = AckClaim(
        incident_id=int.from_bytes(incident, "big"),
        contact_id=contact or None,
        expires_at=datetime.fromtimestamp(expiry, UTC),
    )
    if now >= claim.expires_at:
        raise ExpiredAckLink(f"ack link expired at {claim.expires_at.isoformat()}", claim)
    return claim


def ack_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/ack/{token}"
