"""What each provider's wire module gives a stream client: messages to send, server messages read.

Each provider module (twilio_wire.py, telnyx_wire.py, plivo_wire.py, exotel_wire.py) implements `StreamWire`
for one stream: it holds the stream's ids and its sequence counter, builds each message in the provider's
shape as ready JSON bytes, and reads each server message into a provider-neutral `ServerMessage` (audio to
play, a mark to queue, a clear) with the reasons the provider would refuse or mishandle it. Two clients run
on it: the simulators' stream session (session.py) and the load benchmark's lean client, which drives
hundreds of calls from one core. Reference: /work/shared/reference/provider-protocols.md §1.2–1.3,
§2.2–2.3, §3.2–3.3, §4.2–4.3.

The messages sent every 20 ms (media) and per mark are byte templates, written once per stream as the
documented dict with slots (`message_template`): the ids are fixed per call and the payloads come
pre-encoded (`CallerAudio`), so a frame costs one ``%`` and no serializer.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import orjson

from callbridge.devkit.simulators.audio_codec import AudioCodec

__all__ = [
    "AudioReader",
    "ServerMessage",
    "StreamWire",
    "binary_frame",
    "json_slot",
    "media_payload",
    "message_template",
    "number_slot",
    "number_text_slot",
    "read_event",
    "read_mark",
    "text_slot",
]

# A slot is a JSON string holding a private-use character, a kind letter and a name: no id, number or
# base64 holds that character, so in the encoded message it can only be a slot.
_SLOT = "\ue000"
_SLOT_PATTERN = re.compile(b'"' + _SLOT.encode() + b"([nsjt])([a-z_]+)" + _SLOT.encode() + b'"')
_CONVERSIONS = {b"n": b"%d", b"s": b'"%d"', b"j": b"%b", b"t": b'"%b"'}
# Mean |sample step| of both readings of an L16 message below which it is silence, which says nothing of
# its byte order; read in the wrong order real audio steps far more (media's providers/byte_order.py).
_SILENCE_STEP = 0.5
_BYTE_ORDER_MARGIN = 2.0
_L16_DTYPES = {"little": np.dtype("<i2"), "big": np.dtype(">i2")}
_NO_PROBLEMS: Final[tuple[str, ...]] = ()


def number_slot(name: str) -> str:
    """A JSON number filled per message with an int (Plivo's ``"sequenceNumber": 12``)."""
    return f"{_SLOT}n{name}{_SLOT}"


def number_text_slot(name: str) -> str:
    """A number written as a JSON string, filled with an int (Twilio's ``"sequenceNumber": "12"``)."""
    return f"{_SLOT}s{name}{_SLOT}"


def json_slot(name: str) -> str:
    """Any JSON value, filled with its encoding (``orjson.dumps(mark_name)``)."""
    return f"{_SLOT}j{name}{_SLOT}"


def text_slot(name: str) -> str:
    """A JSON string whose characters need no escaping, filled with ASCII bytes (base64 audio)."""
    return f"{_SLOT}t{name}{_SLOT}"


def message_template(message: Mapping[str, Any], fills: tuple[str, ...]) -> bytes:
    """``message`` as JSON bytes with its slots as ``%`` conversions, filled by ``fills`` in that order.

    ``template % (values...)`` then gives the message exactly as ``orjson.dumps`` would with the values
    in place; a ``%`` anywhere else (an id, a custom parameter) is escaped. Raises ValueError unless the
    slots appear in the order of ``fills``: the key order of ``message`` decides where each value goes.
    """
    encoded = orjson.dumps(message).replace(b"%", b"%%")
    found = tuple(match.group(2).decode() for match in _SLOT_PATTERN.finditer(encoded))
    if found != fills:
        raise ValueError(f"the message's slots are {found}, in that order; the fills given are {fills}")
    return _SLOT_PATTERN.sub(lambda match: _CONVERSIONS[match.group(1)], encoded)


@dataclass(slots=True)
class ServerMessage:
    """One message from the server as the provider reads it; nothing changes it once read.

    Not frozen: one is made per server message, 50 a second per call in the load benchmark, and a frozen
    dataclass's ``__init__`` costs three times as much (measured: 0.9 against 0.3 µs)."""

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
    """One provider's wire format for one stream, from the provider's side. Messages are JSON bytes, each
    sent as one text frame."""

    provider: str
    call_id: str
    stream_id: str
    audio_event: str
    """The server's audio event (`media`, Plivo `playAudio`): left out of the log when it is kept lean."""

    def opening(self) -> list[bytes]:
        """What is sent before the first media frame (`connected` and `start`; Plivo: `start` alone)."""
        ...

    def media(self, chunk: int, payload: bytes) -> bytes:
        """Inbound media frame ``chunk`` (from 1) carrying ``payload``, base64 as ASCII bytes; takes the
        next sequence number, so frames held back and sent later keep the number they were built with."""
        ...

    def dtmf(self, digit: str) -> bytes: ...

    def mark_echo(self, name: str, *, cleared: bool) -> bytes | None:
        """The answer to a mark whose audio played (or that a clear ended); None: it is never answered."""
        ...

    def clear_ack(self) -> bytes | None:
        """The answer to a clear besides the mark echoes (Plivo `clearedAudio`); None for the others."""
        ...

    def stop(self) -> bytes | None:
        """The last message when the caller hangs up; None: the socket just closes."""
        ...

    def read(self, text: str | bytes) -> ServerMessage:
        """Parse and check one text frame from the server (``str``, or its UTF-8 bytes)."""
        ...


def binary_frame(provider: str) -> ServerMessage:
    """What a binary frame from the server is to ``provider`` (`StreamWire.provider`): all four here take
    JSON text frames only."""
    reason = f"binary frame; {provider.capitalize()} expects JSON text frames"
    return ServerMessage(None, None, violations=(reason,))


def read_event(
    text: str | bytes,
    *,
    provider: str,
    accepted: frozenset[str],
    stream_id: str,
    id_keys: tuple[str, ...],
    id_required: bool = False,
) -> tuple[dict[str, Any], str] | ServerMessage:
    """The message and its event, if it is a JSON object with an event ``provider`` accepts for this stream;
    otherwise the `ServerMessage` saying why not.

    A stream id under any of ``id_keys`` must match ``stream_id``; it must be there when ``id_required``
    (Twilio), and may be left out otherwise (Telnyx, Plivo, Exotel).
    """
    try:
        message = orjson.loads(text)
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


class AudioReader:
    """The server's base64 audio on one stream, checked as the provider would play it in ``codec``."""

    def __init__(self, codec: AudioCodec) -> None:
        self.codec = codec
        self._bytes_per_sample = codec.bytes_per_sample
        self._byte_order_unknown = codec.encoding == "L16"

    def read(self, payload: object, field: str) -> tuple[bytes | None, tuple[str, ...]]:
        """``payload`` decoded, and what is wrong with it (None: nothing to play)."""
        if not isinstance(payload, str):
            return None, (f"message without a string {field}",)
        try:
            # Strict: only the base64 alphabet and correct padding, as b64decode(validate=True) but without
            # its regular expression over the whole payload (measured: 12 against 10 µs for 100 ms of L16).
            audio = binascii.a2b_base64(payload, strict_mode=True)
        except ValueError:  # binascii.Error, and ValueError for a string that is not ASCII
            return None, (f"{field} is not valid base64",)
        if len(audio) % self._bytes_per_sample:
            # Half a 16-bit sample: everything after it would be shifted by a byte, which sounds like noise.
            return audio, (f"{field} has {len(audio)} bytes, not a whole number of 16-bit samples",)
        if self._byte_order_unknown:
            problem = self._byte_order_problem(audio)
            if problem is not None:
                return audio, (problem,)  # played all the same, as noise
        return audio, _NO_PROBLEMS

    def _byte_order_problem(self, audio: bytes) -> str | None:
        """Once per stream, on its first audio with signal: is it in the stream's L16 byte order?"""
        expected = self.codec.byte_order
        other = "little" if expected == "big" else "big"
        expected_step, other_step = _mean_step(audio, expected), _mean_step(audio, other)
        if expected_step + other_step < _SILENCE_STEP:
            return None  # silence: the next message tells
        self._byte_order_unknown = False
        if expected_step >= _BYTE_ORDER_MARGIN * other_step:
            return f"L16 audio is not {expected}-endian, as the stream's is: the provider plays it as noise"
        return None


def _mean_step(audio: bytes, byte_order: str) -> float:
    samples = np.frombuffer(audio, dtype=_L16_DTYPES[byte_order]).astype(np.int32)
    return float(np.abs(np.diff(samples)).mean()) if samples.size > 1 else 0.0
