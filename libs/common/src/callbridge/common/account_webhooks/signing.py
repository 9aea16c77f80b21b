"""Ultravox's webhook signature: ``X-Ultravox-Webhook-Timestamp`` (ISO 8601, UTC) and
``X-Ultravox-Webhook-Signature``, ``hex(HMAC-SHA256(secret, body + timestamp))`` per secret, comma-separated
so that a receiver can rotate keys. A receiver verifies as Ultravox's own sample does: it parses the timestamp
with ``datetime.fromisoformat``, refuses one older than about a minute, and accepts the request if any of the
signatures matches its secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

TIMESTAMP_HEADER = "X-Ultravox-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Ultravox-Webhook-Signature"
MAX_AGE = timedelta(minutes=1)


def timestamp(now: datetime | None = None) -> str:
    """``2026-11-30T08:21:04.512345+00:00``: what ``datetime.fromisoformat`` reads on every Python."""
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat()


def signature(secret: str, body: bytes, stamp: str) -> str:
    return hmac.new(secret.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()


def signed_headers(secrets: Sequence[str], body: bytes, now: datetime | None = None) -> dict[str, str]:
    """The two headers for ``body``, signed with every secret (none: a timestamp only)."""
    stamp = timestamp(now)
    headers = {TIMESTAMP_HEADER: stamp, "Content-Type": "application/json"}
    if secrets:
        headers[SIGNATURE_HEADER] = ",".join(signature(secret, body, stamp) for secret in secrets)
    return headers


def verify(secret: str, body: bytes, headers: dict[str, str], now: datetime | None = None) -> bool:
    """What a receiver does (Ultravox's sample): a fresh timestamp and one matching signature."""
    lowered = {name.lower(): value for name, value in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    try:
        sent = datetime.fromisoformat(stamp)
    except ValueError:
        return False
    if sent.tzinfo is None or (now or datetime.now(UTC)) - sent > MAX_AGE:
        return False
    expected = signature(secret, body, stamp)
    offered = lowered.get(SIGNATURE_HEADER.lower(), "").split(",")
    return any(hmac.compare_digest(expected, candidate.strip()) for candidate in offered)
