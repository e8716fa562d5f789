"""Ack link tokens: round trip, tampering, wrong key, expiry, and their length."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest

from alerts.acklinks import (
    TOKEN_CHARS,
    AckClaim,
    ExpiredAckLink,
    InvalidAckLink,
    ack_url,
    make_token,
    read_token,
)

SECRET = "s3cret-for-tests"
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=72)


def test_round_trip() -> None:
    token = make_token(SECRET, 1234, 56, LATER)
    assert read_token(SECRET, token, NOW) == AckClaim(1234, 56, LATER)
    # bytes and str secrets are the same key
    assert read_token(SECRET.encode(), token, NOW).incident_id == 1234


def test_no_contact_and_extreme_ids() -> None:
    token = make_token(SECRET, 2**48 - 1, None, LATER)
    claim = read_token(SECRET, token, NOW)
    assert (claim.incident_id, claim.contact_id) == (2**48 - 1, None)
    assert read_token(SECRET, make_token(SECRET, 1, 2**32 - 1, LATER), NOW).contact_id == 2**32 - 1


def test_length_is_fixed_short_and_url_safe() -> None:
    for incident, contact in [(1, None), (987_654_321, 42), (2**48 - 1, 2**32 - 1)]:
        token = make_token(SECRET, incident, contact, LATER)
        assert len(token) == TOKEN_CHARS == 36
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    url = ack_url("https://rw.example.cn/", make_token(SECRET, 1, 1, LATER))
    assert url.startswith("https://rw.example.cn/ack/")
    assert len(url) == len("https://rw.example.cn/ack/") + 36


def test_every_flipped_bit_is_refused() -> None:
    token = make_token(SECRET, 1234, 56, LATER)
    raw = base64.urlsafe_b64decode(token)
    for i in range(len(raw) * 8):
        forged = bytearray(raw)
        forged[i // 8] ^= 1 << (i % 8)
        with pytest.raises(InvalidAckLink, match="signature"):
            read_token(SECRET, base64.urlsafe_b64encode(bytes(forged)).decode(), NOW)


def test_another_incident_cannot_be_substituted() -> None:
    # Splice a valid tag onto another body: the tag covers every field.
    a = base64.urlsafe_b64decode(make_token(SECRET, 1, 5, LATER))
    b = base64.urlsafe_b64decode(make_token(SECRET, 2, 5, LATER))
    spliced = base64.urlsafe_b64encode(b[:15] + a[15:]).decode()
    with pytest.raises(InvalidAckLink, match="signature"):
        read_token(SECRET, spliced, NOW)


def test_standard_base64_spelling_is_refused() -> None:
    token = next(t for i in range(1, 1000) if "-" in (t := make_token(SECRET, i, None, LATER)))
    with pytest.raises(InvalidAckLink, match="base64url"):
        read_token(SECRET, token.replace("-", "+"), NOW)


def test_wrong_secret_is_refused() -> None:
    token = make_token(SECRET, 1234, 56, LATER)
    with pytest.raises(InvalidAckLink, match="signature"):
        read_token("another-secret", token, NOW)


def test_expiry_is_told_apart() -> None:
    token = make_token(SECRET, 7, 3, LATER)
    assert read_token(SECRET, token, LATER - timedelta(seconds=1)).incident_id == 7
    with pytest.raises(ExpiredAckLink, match="expired") as caught:
        read_token(SECRET, token, LATER)
    assert caught.value.claim.incident_id == 7
    assert isinstance(caught.value, InvalidAckLink)


@pytest.mark.parametrize(
    "token",
    ["", "abc", "A" * 35, "A" * 37, "!" * 36, "A" * 34 + "==", "é" * 36, "A+/" * 12],
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(InvalidAckLink) as caught:
        read_token(SECRET, token, NOW)
    assert not isinstance(caught.value, ExpiredAckLink)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        make_token(SECRET, 1, None, datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="incident"):
        make_token(SECRET, 0, None, LATER)
    with pytest.raises(ValueError, match="contact"):
        make_token(SECRET, 1, 2**32, LATER)
    with pytest.raises(ValueError, match="empty"):
        make_token(b"", 1, None, LATER)
