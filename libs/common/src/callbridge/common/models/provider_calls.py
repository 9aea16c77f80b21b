"""Small KV records the provider webhooks keep: which callbridge call a provider call is, and which signed
requests were already seen (replay protection). Provider-neutral: the providers themselves are described in
callbridge.telephony."""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import UUID

from pydantic import Field

from callbridge.common.models.base import StoredModel
from callbridge.common.models.medium import Provider

_KEY_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class ProviderCallLink(StoredModel):
    """``callbridge_provider_calls``: the provider's call id → the latest callbridge call it created."""

    call_id: UUID
    first_seen: datetime | None = Field(
        default=None,
        description="When callbridge first answered this provider call (kept across later calls); older "
        "records lack it, and the linked call's creation time stands in.",
    )


class ReplayMark(StoredModel):
    """``callbridge_webhook_replays``: a verified signature, kept for the bucket's TTL."""

    seen: datetime


def provider_call_key(provider: Provider, provider_call_id: str) -> str:
    """``<provider>.<call id>``, every byte outside ``[A-Za-z0-9_-]`` escaped as ``=XX``.

    NATS KV keys allow only ``[-/_=.A-Za-z0-9]``; Telnyx ids look like ``v3:…``. The escape is injective,
    so two provider ids never share a key.
    """
    escaped = "".join(chr(b) if b in _KEY_SAFE else f"={b:02X}" for b in provider_call_id.encode())
    return f"{provider.value}.{escaped}"


def replay_key(provider: Provider, signature: bytes) -> str:
    """``<provider>.<sha256 of the verified signature bytes>``."""
    return f"{provider.value}.{hashlib.sha256(signature).hexdigest()}"
