"""Which ProviderStream speaks for a call's medium."""

from __future__ import annotations

from callbridge.common.models.medium import Provider
from callbridge.media.providers.base import ProviderStream
from callbridge.media.providers.twilio import TwilioMediaStream

_STREAMS: dict[Provider, type[ProviderStream]] = {
    Provider.TWILIO: TwilioMediaStream,
}


def stream_for(provider: Provider) -> ProviderStream:
    return _STREAMS[provider]()
