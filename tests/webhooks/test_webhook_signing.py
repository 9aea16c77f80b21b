"""Ultravox's webhook signature, against a vector computed independently:

    printf '%s' '{"event":"call.started","call":{"callId":"x"}}2024-06-01T12:00:00+00:00' \\
        | openssl dgst -sha256 -hmac 'whsec-test-0123456789'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callbridge.common.account_webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    signed_headers,
    timestamp,
    verify,
)

BODY = b'{"event":"call.started","call":{"callId":"x"}}'
STAMP = "2024-06-01T12:00:00+00:00"
SECRET = "whsec-test-0123456789"
OPENSSL = "b4f614eeafe290c891bdd238b757741131a83cb236c25910422f8003701d26fd"


def test_the_signature_matches_the_known_vector() -> None:
    assert signature(SECRET, BODY, STAMP) == OPENSSL


def test_the_timestamp_is_what_ultravoxs_sample_parses() -> None:
    now = datetime(2026, 11, 30, 8, 21, 4, 512345, tzinfo=UTC)
    stamp = timestamp(now)
    assert stamp == "2026-11-30T08:21:04.512345+00:00"
    assert datetime.fromisoformat(stamp) == now


def test_every_secret_signs_and_a_receiver_with_any_one_accepts() -> None:
    now = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
    headers = signed_headers(["old-secret-000", SECRET], BODY, now)
    assert headers[TIMESTAMP_HEADER] == STAMP
    assert headers[SIGNATURE_HEADER].split(",")[1] == OPENSSL
    assert verify(SECRET, BODY, headers, now=now + timedelta(seconds=30))
    assert verify("old-secret-000", BODY, headers, now=now)
    assert not verify("another-secret", BODY, headers, now=now)
    assert not verify(SECRET, BODY + b" ", headers, now=now)  # the body is signed
    assert not verify(SECRET, BODY, headers, now=now + timedelta(minutes=2))  # too old: a replay
    assert not verify(SECRET, BODY, {**headers, TIMESTAMP_HEADER: "2024-06-01T12:00:01+00:00"}, now=now)


def test_a_webhook_without_secrets_sends_a_timestamp_only() -> None:
    headers = signed_headers([], BODY)
    assert SIGNATURE_HEADER not in headers
    assert TIMESTAMP_HEADER in headers
