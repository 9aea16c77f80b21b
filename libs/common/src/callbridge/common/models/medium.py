"""``medium``: which telephony provider carries the call, following Ultravox's ``CallMedium``."""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import Field, model_validator

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
    """What happens to digits the caller presses

    Absent, they reach the agent as an immediate text message (Ultravox §1.2).."""

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
    outgoing: OutgoingCall | None = None
    dtmf_handling: DtmfHandling | None = None


class Provider(enum.StrEnum):
    TWILIO = "twilio"


class CallMedium(ApiModel):
    """Exactly one provider is set. Only Twilio is served by this build (see docs/api.md)."""

    twilio: TwilioMedium | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CallMedium:
        chosen = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"medium must set exactly one provider, got {len(chosen)}: {chosen}")
        return self

    @property
    def provider(self) -> Provider:
        return Provider.TWILIO

    @property
    def dtmf_handling(self) -> DtmfHandling:
        settings = self.twilio.dtmf_handling if self.twilio else None
        return settings or DtmfHandling()

    @property
    def outgoing(self) -> OutgoingCall | None:
        return self.twilio.outgoing if self.twilio else None


def default_medium() -> CallMedium:
    return CallMedium(twilio=TwilioMedium())
