"""The one guarded boundary of provider input: whatever parsing a message raises is a ProtocolError."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import orjson
import pytest

from callbridge.common.models.medium import Provider
from callbridge.media.providers.base import (
    Inbound,
    MediaReceived,
    ProtocolError,
    ProviderStream,
    Started,
    StreamInfo,
    StreamOptions,
)
from callbridge.media.providers.registry import stream_for
from tests.e2e.provider_client import CODECS, wire_for
from tests.media.helpers import CALL


class _Raising(ProviderStream):
    """A provider whose parser fails the way library code does on input nobody expected."""

    provider: ClassVar[Provider] = Provider.TWILIO

    def __init__(self, error: BaseException) -> None:
        super().__init__(CALL, StreamOptions())
        self.error = error

    def _parse(self, message: str | bytes) -> Inbound:
        raise self.error

    @property
    def info(self) -> StreamInfo | None:
        return None

    def media_message(self, pcm: npt.NDArray[np.int16]) -> str:
        raise NotImplementedError

    def mark_message(self, name: str) -> str:
        raise NotImplementedError

    def clear_message(self) -> str:
        raise NotImplementedError


@pytest.mark.parametrize(
    "error",
    [
        ValueError("string argument should contain only ASCII characters"),
        TypeError("unhashable type: 'dict'"),
        KeyError("payload"),
        IndexError("index out of range"),
        AttributeError("'list' object has no attribute 'get'"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        RecursionError("maximum recursion depth exceeded"),
        OverflowError("int too large"),
    ],
)
def test_any_exception_raised_while_parsing_is_a_protocol_error(error: Exception) -> None:
    with pytest.raises(ProtocolError, match=type(error).__name__) as raised:
        _Raising(error).parse(b"{}")
    assert raised.value.__cause__ is error


def test_a_protocol_error_passes_the_boundary_unchanged() -> None:
    error = ProtocolError("unknown event 'x'")
    with pytest.raises(ProtocolError) as raised:
        _Raising(error).parse(b"{}")
    assert raised.value is error


def started(provider: Provider) -> tuple[ProviderStream, dict[str, Any]]:
    """A started stream of ``provider`` and a valid media message of it."""
    wire = wire_for(provider)
    stream = stream_for(provider, CALL, StreamOptions())
    for message in wire.opening():
        stream.parse(message)
    codec = CODECS[provider]
    payload = base64.b64encode(codec.encode(np.zeros(codec.sample_rate_hz // 50, dtype=np.int16)))
    media: dict[str, Any] = orjson.loads(wire.media(1, payload))
    return stream, media


@pytest.mark.parametrize(
    "media",
    [
        {"payload": "é"},  # non-ASCII: base64 raises ValueError, not binascii.Error
        {"payload": "AAAA\u00e9AAA"},
        {"payload": "\u0000\u0000\u0000\u0000"},
        {"payload": 5},
        {"payload": None},
        {"track": {}, "payload": ""},  # unhashable: TypeError in a set lookup
        {"track": [], "payload": ""},
        {"track": 5},
    ],
)
@pytest.mark.parametrize("provider", list(Provider))
def test_malformed_media_fields_are_protocol_errors_on_every_provider(
    provider: Provider, media: dict[str, Any]
) -> None:
    stream, message = started(provider)
    message["media"].update(media)
    with pytest.raises(ProtocolError):
        stream.parse(orjson.dumps(message))


# The longest inbound media message each provider may send, by its documentation: 20 ms frames (Twilio,
# Telnyx, Plivo) or 20 and 100 ms chunks (Exotel), with room for longer packetization.
MAX_MEDIA_MS = {Provider.TWILIO: 100, Provider.TELNYX: 100, Provider.PLIVO: 100, Provider.EXOTEL: 500}


def media_of(provider: Provider, ms: int) -> tuple[ProviderStream, bytes]:
    stream, message = started(provider)
    codec = CODECS[provider]
    pcm = np.zeros(codec.sample_rate_hz * ms // 1000, dtype=np.int16)
    message["media"]["payload"] = base64.b64encode(codec.encode(pcm)).decode()
    return stream, orjson.dumps(message)


@pytest.mark.parametrize("provider", list(Provider))
def test_a_media_message_far_longer_than_the_providers_frame_is_refused(provider: Provider) -> None:
    stream, message = media_of(provider, 18_000)  # 18 s in one message: would delay the echo by seconds
    with pytest.raises(ProtocolError, match="longer than"):
        stream.parse(message)
    stream, message = media_of(provider, MAX_MEDIA_MS[provider] + 20)
    with pytest.raises(ProtocolError, match="longer than"):
        stream.parse(message)


@pytest.mark.parametrize("provider", list(Provider))
def test_media_up_to_the_bound_is_accepted(provider: Provider) -> None:
    for ms in (20, MAX_MEDIA_MS[provider]):
        stream, message = media_of(provider, ms)
        parsed = stream.parse(message)
        assert isinstance(parsed, MediaReceived)
        assert len(parsed.pcm) == CODECS[provider].sample_rate_hz * ms // 1000


@pytest.mark.parametrize(
    ("provider", "where", "value"),
    [
        (Provider.TWILIO, ("start", "customParameters"), "not-an-object"),
        (Provider.TELNYX, ("start", "custom_parameters"), [{"value": "no name"}]),
        (Provider.PLIVO, ("extra_headers",), 42),
        (Provider.EXOTEL, ("start", "custom_parameters"), [1, 2, 3]),
        (Provider.TWILIO, ("start", "customParameters"), {f"k{i}": "v" for i in range(100)}),
    ],
)
def test_a_start_with_custom_parameters_callbridge_cannot_read_still_starts_the_stream(
    provider: Provider, where: tuple[str, ...], value: object
) -> None:
    # callbridge does not use a stream's custom parameters: what they hold cannot keep the call from starting.
    wire = wire_for(provider)
    opening = [orjson.loads(message) for message in wire.opening()]
    start = next(message for message in opening if message.get("event") == "start")
    target = start
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    stream = stream_for(provider, CALL, StreamOptions())
    assert isinstance(stream.parse(orjson.dumps(start)), Started)
