"""Helpers the media unit tests share (fixtures live in conftest.py; tests never import each other)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson

from callbridge.common.models.call import Call
from callbridge.media.providers.base import StreamOptions
from callbridge.media.providers.twilio import TwilioMediaStream

TWILIO_STREAM_SID = "MZ" + "a" * 32
CALL = Call(call_id=uuid4(), created=datetime.now(UTC))
# Twilio's `start` (reference §1.2), as the Twilio stream tests and the playout tests use it.
TWILIO_START: dict[str, Any] = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC" + "b" * 32,
        "streamSid": TWILIO_STREAM_SID,
        "callSid": "CA" + "c" * 32,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"callId": "123"},
    },
    "streamSid": TWILIO_STREAM_SID,
}


def started_twilio() -> TwilioMediaStream:
    """A Twilio stream that has parsed its ``start`` (μ-law, 8 kHz)."""
    stream = TwilioMediaStream(CALL, StreamOptions())
    stream.parse(orjson.dumps(TWILIO_START))
    return stream
