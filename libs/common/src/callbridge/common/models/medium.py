"""``medium``: which telephony provider carries the call, following Ultravox's ``CallMedium``."""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from callbridge.common.models.base import ApiModel


class Urgency(enum.StrEnum):
    UNSPECIFIED = "URGENCY_UNSPECIFIED"
    IMMEDIATE = "URGENCY_IMMEDIATE"
    SOON = "URGENCY_SOON"
    LATER = "URGENCY_LATER"

    @property
    def wire(self) -> Literal["immediate", "soon", "later"]:
        """The lower-case form used in the agent protocol's ``user_text_message``."""
        if self is Urgency.LATER:
            return "later"
        if self is Urgency.SOON:
            return "soon"
        return "immediate"


class DtmfUserTextMessage(ApiModel):
    text: str = Field(default="{digits}", description="Template; {digits} is replaced by the digits pressed.")
    urgency: Urgency = Urgency.IMMEDIATE


class DtmfHandling(ApiModel):
    """What happens to digits the caller presses.

    Absent, they reach the agent as an immediate text message."""

    ignore: bool = False
    user_text_message: DtmfUserTextMessage | None = None

    def render(self, digits: str) -> tuple[str, Urgency] | None:
        """The text and urgency to send the agent for ``digits``, or None when digits are ignored."""
        if self.ignore:
            return None
        message = self.user_text_message or DtmfUserTextMessage()
        return message.text.replace("{digits}", digits), message.urgency


class OutgoingCall(ApiModel):
    """Ask callbridge to place the provider call itself (needs imported credentials and the dialer)."""

    to: str = Field(min_length=1, max_length=256)
    from_: str = Field(alias="from", min_length=1, max_length=256)
    additional_params: dict[str, Any] = Field(default_factory=dict)


class TwilioMedium(ApiModel):
    """Twilio Media Streams: always μ-law at 8 kHz, the only format Twilio streams."""

    outgoing: OutgoingCall | None = None
    dtmf_handling: DtmfHandling | None = None


class TelnyxCodec(enum.StrEnum):
    PCMU = "PCMU"
    PCMA = "PCMA"
    L16 = "L16"


class TelnyxMedium(ApiModel):
    """Telnyx media streaming in bidirectional RTP mode.

    ``codec``/``sampleRate`` are what callbridge asks for in its TeXML (``codec`` and ``bidirectionalCodec``
    always equal): unset, the Telnyx config's choice, by default L16 at 16 kHz. Inbound audio is still
    decoded by what Telnyx's ``start`` announces; outbound is encoded in this codec.
    """

    outgoing: OutgoingCall | None = None
    dtmf_handling: DtmfHandling | None = None
    codec: TelnyxCodec | None = None
    sample_rate: Literal[8000, 16000] | None = None

    @model_validator(mode="after")
    def _rate_fits_codec(self) -> TelnyxMedium:
        if self.codec in (TelnyxCodec.PCMU, TelnyxCodec.PCMA) and self.sample_rate not in (None, 8000):
            raise ValueError(f"{self.codec} runs at 8000 Hz only")
        if self.codec is TelnyxCodec.L16 and self.sample_rate not in (None, 16000):
            raise ValueError("Telnyx streams L16 at 16000 Hz only")
        return self


class PlivoCodec(enum.StrEnum):
    L16 = "L16"
    PCMU = "PCMU"


class PlivoMedium(ApiModel):
    """Plivo AudioStream. ``codec``/``sampleRate`` choose the ``<Stream contentType>``: unset, the Plivo
    config's choice, by default ``audio/x-l16;rate=16000``."""

    outgoing: OutgoingCall | None = None
    dtmf_handling: DtmfHandling | None = None
    codec: PlivoCodec | None = None
    sample_rate: Literal[8000, 16000] | None = None

    @model_validator(mode="after")
    def _rate_fits_codec(self) -> PlivoMedium:
        if self.codec is PlivoCodec.PCMU and self.sample_rate not in (None, 8000):
            raise ValueError("PCMU runs at 8000 Hz only")
        return self


class ExotelMedium(ApiModel):
    """Exotel Voicebot streaming: 16-bit PCM at ``sampleRate`` (unset: the Exotel config's, by default
    16000), asked for with ``?sample-rate=`` on the stream URL."""

    dtmf_handling: DtmfHandling | None = None
    sample_rate: Literal[8000, 16000, 24000] | None = None


class Provider(enum.StrEnum):
    TWILIO = "twilio"
    TELNYX = "telnyx"
    PLIVO = "plivo"
    EXOTEL = "exotel"


ProviderMedium = TwilioMedium | TelnyxMedium | PlivoMedium | ExotelMedium


class CallMedium(ApiModel):
    """Exactly one provider is set."""

    twilio: TwilioMedium | None = None
    telnyx: TelnyxMedium | None = None
    plivo: PlivoMedium | None = None
    exotel: ExotelMedium | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CallMedium:
        chosen = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"medium must set exactly one provider, got {len(chosen)}: {chosen}")
        return self

    @model_serializer(mode="wrap")
    def _only_the_chosen_provider(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {name: value for name, value in data.items() if value is not None}

    @property
    def provider(self) -> Provider:
        return Provider(next(name for name in type(self).model_fields if getattr(self, name) is not None))

    @property
    def settings(self) -> ProviderMedium:
        """The chosen provider's settings."""
        chosen: ProviderMedium = getattr(self, self.provider.value)
        return chosen

    @property
    def dtmf_handling(self) -> DtmfHandling:
        return self.settings.dtmf_handling or DtmfHandling()

    @property
    def outgoing(self) -> OutgoingCall | None:
        settings = self.settings
        return None if isinstance(settings, ExotelMedium) else settings.outgoing

    @classmethod
    def for_provider(cls, provider: Provider) -> CallMedium:
        empty: dict[Provider, ProviderMedium] = {
            Provider.TWILIO: TwilioMedium(),
            Provider.TELNYX: TelnyxMedium(),
            Provider.PLIVO: PlivoMedium(),
            Provider.EXOTEL: ExotelMedium(),
        }
        return cls.model_validate({provider.value: empty[provider]})
