"""An incoming call in provider-neutral terms, and the plan for answering it with the provider's document."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from callbridge.common.models.medium import CallMedium, Provider, ProviderMedium
from callbridge.telephony.errors import InvalidProviderRequest
from callbridge.telephony.request import ProviderRequest

XML_MEDIA_TYPE = "text/xml"
JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """What the provider's incoming-call webhook says about the call."""

    provider_call_id: str
    """The provider's id of the call (Twilio CallSid, Telnyx call_control_id, Plivo CallUUID, Exotel
    CallSid): status callbacks and REST calls name the call by it."""
    from_: str | None
    to: str | None
    account_id: str | None


@dataclass(frozen=True, slots=True)
class StreamTarget:
    """The created call that the answer connects the provider's media stream to."""

    call_id: UUID
    join_url: str
    """The media service's signed, single-use URL for this call's stream."""
    status_callback_url: str
    """Where the provider reports the stream's (and the call's) status, naming this call."""


@dataclass(frozen=True, slots=True)
class AnswerDocument:
    """The body the provider runs (TwiML, TeXML, Plivo XML, Exotel's JSON) and its content type."""

    body: str
    media_type: str


class StreamPlan(ABC):
    """How a provider's call will be streamed, decided before the call is created: the call records its
    ``medium`` (media encodes the outbound audio by it), and the answer asks the provider for exactly that."""

    def __init__(self, medium: CallMedium) -> None:
        self.medium = medium

    @abstractmethod
    def answer(self, target: StreamTarget) -> AnswerDocument:
        """The document that connects the provider's media stream to ``target``."""


def template_settings(template: CallMedium | None, provider: Provider) -> dict[str, Any]:
    """The agent template's settings for ``provider`` (snake_case, unset fields left out, without
    ``outgoing``: this call came in); empty when the template names another provider or none."""
    if template is None or template.provider is not provider:
        return {}
    return template.settings.model_dump(exclude={"outgoing"}, exclude_none=True, by_alias=False)


def medium_of(provider: Provider, settings: ProviderMedium) -> CallMedium:
    """The call's medium: ``settings`` under the provider's name."""
    return CallMedium.model_validate({provider.value: settings})


def call_from_fields(request: ProviderRequest, call_id_field: str, *, account_id: str | None) -> IncomingCall:
    """The call a form or query webhook describes: its ``call_id_field``, ``From``/``To`` (Exotel:
    ``CallFrom``/``CallTo``)."""
    provider_call_id = request.field(call_id_field)
    if provider_call_id is None:
        raise InvalidProviderRequest(f"{call_id_field} is missing")
    return IncomingCall(
        provider_call_id=provider_call_id,
        from_=request.field("From", "CallFrom"),
        to=request.field("To", "CallTo"),
        account_id=account_id,
    )
