"""Twilio Media Streams wire format, from Twilio's side: the messages it sends and how it reads the server's.

Reference: /work/shared/reference/provider-protocols.md §1.2 (Twilio SENDS) and §1.3 (Twilio ACCEPTS), from
twilio.com/docs/voice/media-streams/websocket-messages. Key order follows the documented examples.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "ACCEPTED_EVENTS",
    "DTMF_DIGITS",
    "FRAME_S",
    "FRAME_SAMPLES",
    "SAMPLE_RATE_HZ",
    "ServerMessage",
    "connected_message",
    "dtmf_message",
    "mark_message",
    "media_message",
    "read_server_message",
    "start_message",
    "stop_message",
]

SAMPLE_RATE_HZ = 8000  # always audio/x-mulaw, 8000 Hz, mono (§1.2 `start.mediaFormat`)
FRAME_SAMPLES = 160  # 20 ms at 8 kHz, one μ-law byte per sample; the frame size observed in practice (§1.2)
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ
DTMF_DIGITS = frozenset("0123456789*#")
ACCEPTED_EVENTS = frozenset({"media", "mark", "clear"})  # §1.3: all Twilio accepts on <Connect><Stream>


def connected_message() -> dict[str, Any]:
    # The first message, and the only one without a sequenceNumber.
    return {"event": "connected", "protocol": "Call", "version": "1.0.0"}


def start_message(
    sequence: str, *, account_sid: str, stream_sid: str, call_sid: str, custom_parameters: dict[str, str]
) -> dict[str, Any]:
    return {
        "event": "start",
        "sequenceNumber": sequence,
        "start": {
            "accountSid": account_sid,
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE_HZ, "channels": 1},
            "customParameters": custom_parameters,
        },
        "streamSid": stream_sid,
    }


def media_message(sequence: str, *, stream_sid: str, chunk: int, payload: str) -> dict[str, Any]:
    # `chunk` counts from 1; `timestamp` is the presentation time in ms from stream start, so chunk n of
    # 20 ms frames starts at (n-1)·20 ms.
    return {
        "event": "media",
        "sequenceNumber": sequence,
        "media": {
            "track": "inbound",
            "chunk": str(chunk),
            "timestamp": str((chunk - 1) * 20),
            "payload": payload,
        },
        "streamSid": stream_sid,
    }


def dtmf_message(sequence: str, *, stream_sid: str, digit: str) -> dict[str, Any]:
    # Bidirectional streams only; the track is always `inbound_track`.
    return {
        "event": "dtmf",
        "streamSid": stream_sid,
        "sequenceNumber": sequence,
        "dtmf": {"track": "inbound_track", "digit": digit},
    }


def mark_message(sequence: str, *, stream_sid: str, name: str) -> dict[str, Any]:
    return {"event": "mark", "sequenceNumber": sequence, "streamSid": stream_sid, "mark": {"name": name}}


def stop_message(sequence: str, *, stream_sid: str, account_sid: str, call_sid: str) -> dict[str, Any]:
    return {
        "event": "stop",
        "sequenceNumber": sequence,
        "stop": {"accountSid": account_sid, "callSid": call_sid},
        "streamSid": stream_sid,
    }


@dataclass(frozen=True, slots=True)
class ServerMessage:
    """One message from the server as Twilio reads it; ``violation`` says why Twilio would not accept it."""

    event: str | None
    message: dict[str, Any] | None
    ulaw: bytes | None = None
    """Decoded `media` payload, to be played (set even when a RIFF header makes it a violation)."""
    mark_name: str | None = None
    violation: str | None = None


def read_server_message(raw: str | bytes, stream_sid: str) -> ServerMessage:
    """Parse and check one WebSocket message against §1.3."""
    if isinstance(raw, bytes):
        return ServerMessage(None, None, violation="binary frame; Twilio expects JSON text frames")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ServerMessage(None, None, violation="not valid JSON")
    if not isinstance(message, dict):
        return ServerMessage(None, None, violation="JSON message is not an object")
    event = message.get("event")
    name = event if isinstance(event, str) else None
    if name not in ACCEPTED_EVENTS:
        return ServerMessage(
            name, message, violation=f"unknown event {event!r}; Twilio accepts media, mark, clear"
        )
    if message.get("streamSid") != stream_sid:
        reason = f"streamSid {message.get('streamSid')!r} does not match {stream_sid!r}"
        return ServerMessage(name, message, violation=reason)
    if name == "media":
        return _read_media(message)
    if name == "mark":
        body = message.get("mark")
        mark_name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(mark_name, str):
            return ServerMessage(name, message, violation="mark message without a string mark.name")
        return ServerMessage(name, message, mark_name=mark_name)
    return ServerMessage(name, message)  # clear


def _read_media(message: dict[str, Any]) -> ServerMessage:
    media = message.get("media")
    payload = media.get("payload") if isinstance(media, dict) else None
    if not isinstance(payload, str):
        return ServerMessage("media", message, violation="media message without a string media.payload")
    try:
        ulaw = base64.b64decode(payload, validate=True)
    except binascii.Error:
        return ServerMessage("media", message, violation="media.payload is not valid base64")
    if ulaw.startswith(b"RIFF"):
        # §1.3: raw μ-law with no file header; Twilio plays header bytes as audio, so this one still plays.
        return ServerMessage(
            "media", message, ulaw=ulaw, violation="media.payload starts with a RIFF (WAV) header"
        )
    return ServerMessage("media", message, ulaw=ulaw)
