"""``medium``: which telephony provider carries the call, following Ultravox's ``CallMedium``."""

from __future__ import annotations

import enum
import re
from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator
from pydantic_core import PydanticCustomError

from callbridge.common.models.base import ApiModel
from callbridge.common.models.json_values import JsonObject


class Urgency(enum.StrEnum):
    """How soon the agent should react to a message: at once, soon, or when it suits."""

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
    """The text message keys pressed become for the agent."""

    text: str = Field(default="{digits}", description="Template; {digits} is replaced by the digits pressed.")
    urgency: Urgency = Urgency.IMMEDIATE
    """How soon the agent should react to it."""


class DtmfHandling(ApiModel):
    """What happens to digits the caller presses.

    Absent, they reach the agent as an immediate text message."""

    ignore: bool = False
    """Drop the keys: the agent is not told."""
    user_text_message: DtmfUserTextMessage | None = None
    """The text message the keys become."""

    def render(self, digits: str) -> tuple[str, Urgency] | None:
        """The text and urgency to send the agent for ``digits``, or None when digits are ignored."""
        if self.ignore:
            return None
        message = self.user_text_message or DtmfUserTextMessage()
        return message.text.replace("{digits}", digits), message.urgency


E164_PATTERN = r"^\+[1-9]\d{1,14}$"
E164_ERROR = "e164_number"
"""The validation error type of a number that is not E.164."""
_E164 = re.compile(E164_PATTERN)


class OutgoingCall(ApiModel):
    """Have callbridge place the call through the provider's REST API, with the imported credentials (the
    dialer service); the callee's answer opens the media stream to the call's ``joinUrl``."""

    to: str = Field(
        json_schema_extra={"pattern": E164_PATTERN}, description="The number to call, E.164 (+15551234567)."
    )
    from_: str = Field(
        alias="from",
        json_schema_extra={"pattern": E164_PATTERN},
        description="The number to call from, E.164 (+15551234567).",
    )
    additional_params: JsonObject = Field(
        default_factory=dict, description="Fields added to the provider's create-call request."
    )

    @field_validator("to", "from_")
    @classmethod
    def _e164(cls, number: str) -> str:
        if not _E164.fullmatch(number):
            # Its own error type: the API answers a bad number with 400 (BAD_REQUEST_ERRORS), not 422.
            raise PydanticCustomError(
                E164_ERROR,
                "{number} is not an E.164 number such as +15551234567",
                {"number": repr(number[:32])},
            )
        return number


_OUTGOING = (
    "Have callbridge place the call: the dialer dials ``to`` from ``from`` with the provider's imported "
    "credentials and streams the answered call to the agent."
)
_DTMF = "What happens to keys the caller presses; by default the agent gets them as a text message."


class TwilioMedium(ApiModel):
    """Twilio Media Streams: always μ-law at 8 kHz, the only format Twilio streams."""

    outgoing: OutgoingCall | None = Field(default=None, description=_OUTGOING)
    dtmf_handling: DtmfHandling | None = Field(default=None, description=_DTMF)


class TelnyxCodec(enum.StrEnum):
    """Telnyx stream codecs: L16 (16-bit PCM at 16 kHz), PCMU or PCMA (8 kHz)."""

    PCMU = "PCMU"
    PCMA = "PCMA"
    L16 = "L16"


class TelnyxMedium(ApiModel):
    """Telnyx media streaming in bidirectional RTP mode.

    ``codec``/``sampleRate`` are what callbridge asks for in its TeXML (``codec`` and ``bidirectionalCodec``
    always equal): unset, the Telnyx config's choice, by default L16 at 16 kHz. Inbound audio is still
    decoded by what Telnyx's ``start`` announces; outbound is encoded in this codec.
    """

    outgoing: OutgoingCall | None = Field(default=None, description=_OUTGOING)
    dtmf_handling: DtmfHandling | None = Field(default=None, description=_DTMF)
    codec: TelnyxCodec | None = None
    """The codec asked for; unset: the Telnyx config's, else L16."""
    sample_rate: Literal[8000, 16000] | None = None
    """The rate in Hz: 16000 for L16, 8000 for PCMU and PCMA."""

    @model_validator(mode="after")
    def _rate_fits_codec(self) -> TelnyxMedium:
        if self.codec in (TelnyxCodec.PCMU, TelnyxCodec.PCMA) and self.sample_rate not in (None, 8000):
            raise ValueError(f"{self.codec} runs at 8000 Hz only")
        if self.codec is TelnyxCodec.L16 and self.sample_rate not in (None, 16000):
            raise ValueError("Telnyx streams L16 at 16000 Hz only")
        return self


class PlivoCodec(enum.StrEnum):
    """Plivo stream codecs: L16 (16-bit PCM at 8 or 16 kHz) or PCMU (8 kHz)."""

    L16 = "L16"
    PCMU = "PCMU"


class PlivoMedium(ApiModel):
    """Plivo AudioStream. ``codec``/``sampleRate`` choose the ``<Stream contentType>``: unset, the Plivo
    config's choice, by default ``audio/x-l16;rate=16000``."""

    outgoing: OutgoingCall | None = Field(default=None, description=_OUTGOING)
    dtmf_handling: DtmfHandling | None = Field(default=None, description=_DTMF)
    codec: PlivoCodec | None = None
    """The codec asked for; unset: the Plivo config's, else L16."""
    sample_rate: Literal[8000, 16000] | None = None
    """The rate in Hz; PCMU runs at 8000 only."""

    @model_validator(mode="after")
    def _rate_fits_codec(self) -> PlivoMedium:
        if self.codec is PlivoCodec.PCMU and self.sample_rate not in (None, 8000):
            raise ValueError("PCMU runs at 8000 Hz only")
        return self


class ExotelMedium(ApiModel):
    """Exotel Voicebot streaming: 16-bit PCM at ``sampleRate`` (unset: the Exotel config's, by default
    16000), asked for with ``?sample-rate=`` on the stream URL."""

    outgoing: OutgoingCall | None = Field(default=None, description=_OUTGOING)
    dtmf_handling: DtmfHandling | None = Field(default=None, description=_DTMF)
    sample_rate: Literal[8000, 16000, 24000] | None = None
    """The rate in Hz asked for; unset: the Exotel config's, else 16000."""


class Provider(enum.StrEnum):
    """A telephony provider callbridge works with."""

    TWILIO = "twilio"
    TELNYX = "telnyx"
    PLIVO = "plivo"
    EXOTEL = "exotel"


ProviderMedium = TwilioMedium | TelnyxMedium | PlivoMedium | ExotelMedium
_PROVIDER_FIELDS = ("twilio", "telnyx", "plivo", "exotel")
"""CallMedium's fields, named once: pydantic's ``model_fields`` costs ~20 µs a read, and a batch reads it
twice per call (measured: a third of validating 100,000 calls)."""


class CallMedium(ApiModel):
    """The telephony provider carrying a call and its settings: exactly one provider is set."""

    twilio: TwilioMedium | None = None
    """Twilio Media Streams."""
    telnyx: TelnyxMedium | None = None
    """Telnyx media streaming."""
    plivo: PlivoMedium | None = None
    """Plivo AudioStream."""
    exotel: ExotelMedium | None = None
    """Exotel Voicebot streaming."""

    @model_validator(mode="after")
    def _exactly_one(self) -> CallMedium:
        chosen = [name for name in _PROVIDER_FIELDS if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"medium must set exactly one provider, got {len(chosen)}: {chosen}")
        return self

    @model_serializer(mode="wrap")
    def _only_the_chosen_provider(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {name: value for name, value in data.items() if value is not None}

    @property
    def provider(self) -> Provider:
        return Provider(next(name for name in _PROVIDER_FIELDS if getattr(self, name) is not None))

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
        return self.settings.outgoing

    @classmethod
    def for_provider(cls, provider: Provider) -> CallMedium:
        empty: dict[Provider, ProviderMedium] = {
            Provider.TWILIO: TwilioMedium(),
            Provider.TELNYX: TelnyxMedium(),
            Provider.PLIVO: PlivoMedium(),
            Provider.EXOTEL: ExotelMedium(),
        }
        return cls.model_validate({provider.value: empty[provider]})
