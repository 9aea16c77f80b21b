"""What each provider's wire module gives the shared stream session: messages to send, server messages read.

Each provider module (twilio_wire.py, telnyx_wire.py, plivo_wire.py, exotel_wire.py) implements `StreamWire`
for one stream: it holds the stream's ids and its sequence counter, builds each message in the provider's
shape, and reads each server message into a provider-neutral `ServerMessage` (audio to play, a mark to
queue, a clear) with the reasons the provider would refuse or mishandle it. Reference:
/work/shared/reference/provider-protocols.md §1.2–1.3, §2.2–2.3, §3.2–3.3, §4.2–4.3.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from callbridge.devkit.simulators.audio_codec import AudioCodec

__all__ = ["ServerMessage", "StreamWire", "decode_audio", "media_payload", "read_event", "read_mark"]


@dataclass(frozen=True, slots=True)
class ServerMessage:
    """One message from the server as the provider reads it."""

    event: str | None
    message: dict[str, Any] | None
    audio: bytes | None = None
    """Audio to play, in the stream's outbound encoding; set even when a violation is recorded, if the
    provider would still play it (Twilio plays a RIFF header as noise, Plivo plays a wrong rate slowly)."""
    mark_name: str | None = None
    """A mark (Plivo: checkpoint) to queue behind the buffered audio."""
    clear: bool = False
    violations: tuple[str, ...] = ()


class StreamWire(Protocol):
    """One provider's wire format for one stream, from the provider's side."""

    provider: str
    call_id: str
    stream_id: str
    audio_event: str
    """The server's audio event (`media`, Plivo `playAudio`): left out of the log when it is kept lean."""

    def opening(self) -> list[dict[str, Any]]:
        """What is sent before the first media frame (`connected` and `start`; Plivo: `start` alone)."""
        ...

    def media(self, chunk: int, payload: str) -> dict[str, Any]:
        """Inbound media frame ``chunk`` (1-based) carrying base64 ``payload``."""
        ...

    def dtmf(self, digit: str) -> dict[str, Any]: ...

    def mark_echo(self, name: str, *, cleared: bool) -> dict[str, Any] | None:
        """The answer to a mark whose audio played (or that a clear ended); None: it is never answered."""
        ...

    def clear_ack(self) -> dict[str, Any] | None:
        """The answer to a clear besides the mark echoes (Plivo `clearedAudio`); None for the others."""
        ...

    def stop(self) -> dict[str, Any] | None:
        """The last message when the caller hangs up; None: the socket just closes."""
        ...

    def read(self, raw: str | bytes) -> ServerMessage: ...


def read_event(
    raw: str | bytes,
    *,
    provider: str,
    accepted: frozenset[str],
    stream_id: str,
    id_keys: tuple[str, ...],
    id_required: bool = False,
) -> tuple[dict[str, Any], str] | ServerMessage:
    """The message and its event, if it is a JSON object with an event ``provider`` accepts for this stream;
    otherwise the `ServerMessage` saying why not (all four take JSON text frames).

    A stream id under any of ``id_keys`` must match ``stream_id``; it must be there when ``id_required``
    (Twilio), and may be left out otherwise (Telnyx, Plivo, Exotel).
    """
    if isinstance(raw, bytes):
        return ServerMessage(None, None, violations=(f"binary frame; {provider} expects JSON text frames",))
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ServerMessage(None, None, violations=("not valid JSON",))
    if not isinstance(message, dict):
        return ServerMessage(None, None, violations=("JSON message is not an object",))
    event = message.get("event")
    name = event if isinstance(event, str) else None
    if name not in accepted:
        reason = f"unknown event {event!r}; {provider} accepts {', '.join(sorted(accepted))}"
        return ServerMessage(name, message, violations=(reason,))
    for key in id_keys:
        if (id_required or key in message) and message.get(key) != stream_id:
            reason = f"{key} {message.get(key)!r} does not match {stream_id!r}"
            return ServerMessage(name, message, violations=(reason,))
    return message, name


def read_mark(event: str, message: dict[str, Any]) -> ServerMessage:
    """A `mark` message (Twilio, Telnyx, Exotel): ``{"mark": {"name": …}}``."""
    body = message.get("mark")
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str):
        return ServerMessage(event, message, violations=("mark message without a string mark.name",))
    return ServerMessage(event, message, mark_name=name)


def media_payload(message: dict[str, Any]) -> object:
    """``message["media"]["payload"]`` when there is one."""
    media = message.get("media")
    return media.get("payload") if isinstance(media, dict) else None


def decode_audio(payload: object, codec: AudioCodec, field: str) -> tuple[bytes | None, list[str]]:
    """Base64 ``payload`` as audio of ``codec``, and what is wrong with it (None: nothing to play)."""
    if not isinstance(payload, str):
        return None, [f"message without a string {field}"]
    try:
        audio = base64.b64decode(payload, validate=True)
    except binascii.Error:
        return None, [f"{field} is not valid base64"]
    if len(audio) % codec.bytes_per_sample:
        # Half a 16-bit sample: everything after it would be shifted by a byte, which sounds like noise.
        return audio, [f"{field} has {len(audio)} bytes, not a whole number of 16-bit samples"]
    return audio, []
