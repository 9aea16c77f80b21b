"""Which ProviderStream speaks for a call: from its ``medium``, or recognised from the first messages."""

from __future__ import annotations

from typing import Any

from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider
from callbridge.media.providers.base import ProviderStream, StreamOptions
from callbridge.media.providers.exotel import ExotelMediaStream
from callbridge.media.providers.plivo import PlivoMediaStream
from callbridge.media.providers.telnyx import TelnyxMediaStream
from callbridge.media.providers.twilio import TwilioMediaStream
from callbridge.media.ratelimit import CallLog

_STREAMS: dict[Provider, type[ProviderStream]] = {
    Provider.TWILIO: TwilioMediaStream,
    Provider.TELNYX: TelnyxMediaStream,
    Provider.PLIVO: PlivoMediaStream,
    Provider.EXOTEL: ExotelMediaStream,
}


def supported(provider: Provider) -> bool:
    return provider in _STREAMS


def stream_for(
    provider: Provider, call: Call, options: StreamOptions, log: CallLog | None = None
) -> ProviderStream:
    return _STREAMS[provider](call, options, log)


def detect_provider(message: dict[str, Any]) -> Provider | None:
    """Recognise the provider from a ``start`` message (reference §6.7); None for anything else.

    Used for calls whose ``medium`` is not set. Twilio, Telnyx and Exotel send ``connected`` first, so the
    caller reads up to two messages; Plivo starts with ``start``.
    """
    if message.get("event") != "start" or not isinstance(message.get("start"), dict):
        return None
    start: dict[str, Any] = message["start"]
    if "streamSid" in start and "callSid" in start:
        return Provider.TWILIO
    # Each rule asks for what that provider's parser needs: Telnyx's stream_id is top-level per its docs,
    # but the parser also takes it from start (as Exotel's stream_sid), and so does this rule.
    if "call_control_id" in start and ("stream_id" in message or "stream_id" in start):
        return Provider.TELNYX
    if "streamId" in start and "callId" in start:
        return Provider.PLIVO
    if "call_sid" in start and ("stream_sid" in start or "stream_sid" in message):
        return Provider.EXOTEL
    return None
