"""Join URLs: ``wss://<media>/calls/<call_id>/telephony/<token>``, signed and expiring.

The credential is in the path because Twilio refuses stream URLs with a query string (error 31922).
The token is ``<expires_unix>.<base64url(HMAC-SHA256(key, "<call_id>.<expires_unix>"))>``. It is
single-use because media accepts a join only with a compare-and-set on the call record that finds it
not yet joined.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime
from uuid import UUID

from callbridge.common.secrets import derive_key


class InvalidJoinTokenError(Exception):
    """The token is malformed or its signature does not match."""


class ExpiredJoinTokenError(InvalidJoinTokenError):
    """The token's join window has passed."""


class JoinTokenSigner:
    def __init__(self, secret_key: str) -> None:
        self._key = derive_key(secret_key, "join-token")

    def _mac(self, call_id: UUID, expires: int) -> str:
        digest = hmac.new(self._key, f"{call_id}.{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, call_id: UUID, expires_at: datetime) -> str:
        expires = int(expires_at.timestamp())
        return f"{expires}.{self._mac(call_id, expires)}"

    def verify(self, call_id: UUID, token: str, *, now: float | None = None) -> None:
        """Raise InvalidJoinTokenError or ExpiredJoinTokenError unless ``token`` admits ``call_id`` now."""
        expires_text, _, mac = token.partition(".")
        if not expires_text.isdigit() or not mac:
            raise InvalidJoinTokenError("malformed join token")
        expires = int(expires_text)
        if not hmac.compare_digest(mac, self._mac(call_id, expires)):
            raise InvalidJoinTokenError("join token signature does not match")
        if (time.time() if now is None else now) > expires:
            raise ExpiredJoinTokenError("join token has expired")


def join_path(call_id: UUID, token: str) -> str:
    return f"/calls/{call_id}/telephony/{token}"


def join_url(media_public_url: str, call_id: UUID, token: str) -> str:
    return media_public_url.rstrip("/") + join_path(call_id, token)
