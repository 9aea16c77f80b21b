"""Replay protection: a verified signature may be used once (reference §5.2, §5.3).

Each verified signature that identifies its request (Telnyx's, Plivo's, and Twilio's when it creates a
call) is created as a key in ``callbridge_webhook_replays``; the create
fails when the key exists, on any replica, so a captured request sent again is refused. Keys expire with
the bucket's TTL (``buckets.WEBHOOK_REPLAYS_TTL``), which outlasts Telnyx's timestamp window.
"""

from __future__ import annotations

from datetime import UTC, datetime

from callbridge.common.models.medium import Provider
from callbridge.common.models.provider_calls import ReplayMark, replay_key
from callbridge.common.store import ConflictError, KvStore
from callbridge.telephony import RequestNotVerified


class ReplayGuard:
    def __init__(self, marks: KvStore[ReplayMark]) -> None:
        self._marks = marks

    async def first_use(self, provider: Provider, signature: bytes) -> None:
        """Record the signature; ``RequestNotVerified`` (403) if it was seen before."""
        try:
            await self._marks.create(replay_key(provider, signature), ReplayMark(seen=datetime.now(UTC)))
        except ConflictError:
            raise RequestNotVerified("replayed request: this signature was already used") from None
