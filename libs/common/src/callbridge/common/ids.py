"""Identifiers callbridge assigns."""

from __future__ import annotations

from uuid import UUID

import uuid6


def new_call_id() -> UUID:
    """A UUIDv7 (RFC 9562): its first 48 bits are the creation time in ms, so call ids sort by creation.

    The live-call listing relies on that order; the index chains do not (they keep their own)."""
    return UUID(int=uuid6.uuid7().int)
