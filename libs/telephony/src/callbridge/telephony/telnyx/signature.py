"""Telnyx's webhook signature: ed25519 over ``timestamp|raw body``, the timestamp within ±300 s (reference
§5.2)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from callbridge.telephony.errors import RequestNotVerified

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
# §5.2: Telnyx's callback docs also name the Standard-Webhooks pair; accept either, same message.
STANDARD_SIGNATURE_HEADER = "webhook-signature"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
CREDENTIAL_HEADERS = (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
)

TIMESTAMP_TOLERANCE_S = 300
ED25519_SIGNATURE_BYTES = 64


def verify_signature(public_key_b64: str, body: bytes, headers: Mapping[str, str], now_s: float) -> bytes:
    """Reference §5.2: ed25519 over the UTF-8 bytes of ``f"{timestamp}|{raw body}"``, the timestamp within
    ±300 s of now. Returns the signature that verified (the replay key); RequestNotVerified otherwise."""
    if SIGNATURE_HEADER in headers or TIMESTAMP_HEADER in headers:
        signature_header, timestamp_header = SIGNATURE_HEADER, TIMESTAMP_HEADER
    else:
        signature_header, timestamp_header = STANDARD_SIGNATURE_HEADER, STANDARD_TIMESTAMP_HEADER
    signatures = _decode_signatures(headers.get(signature_header, ""))
    if not signatures:
        raise RequestNotVerified(f"missing or malformed {signature_header} header")
    timestamp = headers.get(timestamp_header, "").strip()
    if not timestamp.isdigit():
        raise RequestNotVerified(f"missing or malformed {timestamp_header} header (Unix seconds)")
    skew_s = abs(now_s - int(timestamp))
    if skew_s > TIMESTAMP_TOLERANCE_S:
        raise RequestNotVerified(
            f"stale request: {timestamp_header} is {skew_s:.0f} s from now "
            f"(tolerance {TIMESTAMP_TOLERANCE_S} s)"
        )
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
    message = timestamp.encode() + b"|" + body  # the raw bytes, never re-serialised (§5.2)
    for signature in signatures:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return signature
    raise RequestNotVerified(f"invalid {signature_header}")


def _decode_signatures(header: str) -> list[bytes]:
    """``telnyx-signature-ed25519`` is one base64 signature; a Standard-Webhooks ``webhook-signature``
    is a space-separated list of ``v1a,<base64>``. Entries that do not decode to 64 bytes are skipped."""
    decoded = []
    for entry in header.split():
        _, _, encoded = entry.rpartition(",")
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(signature) == ED25519_SIGNATURE_BYTES:
            decoded.append(signature)
    return decoded
