"""An incoming call from any provider: detect, verify, create the call, and answer in the provider's format.

Nothing is written until the request is verified and the agent may take the provider's calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import Response

from callbridge.common.models.call import AgentCallCreate, Call, ProviderDetails, SealedCallSettings
from callbridge.common.models.medium import (
    CallMedium,
    ExotelMedium,
    PlivoMedium,
    Provider,
    ProviderMedium,
    TelnyxMedium,
    TwilioMedium,
)
from callbridge.common.models.telephony import (
    StoredExotelConfig,
    StoredPlivoConfig,
    StoredProviderConfig,
    StoredTelnyxConfig,
    StoredTwilioConfig,
)
from callbridge.webhooks import exotel, plivo, telnyx, twilio
from callbridge.webhooks.calls import merge_agent_call
from callbridge.webhooks.deps import Services
from callbridge.webhooks.detection import PROVIDER_NAMES, detect_provider
from callbridge.webhooks.errors import ForbiddenError, InvalidRequestError
from callbridge.webhooks.provider_calls import admit_new_call, find_provider_call, remember_call
from callbridge.webhooks.provider_request import ProviderRequest
from callbridge.webhooks.records import load_agent
from callbridge.webhooks.request_context import map_request_context
from callbridge.webhooks.verification import verify_provider_request

logger = logging.getLogger(__name__)

XML_MEDIA_TYPE = "text/xml"
JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """What the provider's webhook says about the call (reference §1.1, §2.1, §3.5, §4.5)."""

    provider_call_id: str
    from_: str | None
    to: str | None
    account_id: str | None


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """The call's medium, with the codec and rate the answer will ask for filled in (media reads them
    from the call record to encode outbound audio), and how to render that answer."""

    medium: CallMedium
    media_type: str
    render: Callable[[Call, str, str], str]
    """(the created call, its join URL, its status callback URL) -> the answer's body."""


async def answer_incoming_call(services: Services, agent_id: UUID, request: ProviderRequest) -> Response:
    imported = await services.stores.telephony_configs.imported()
    provider = detect_provider(request, imported)
    config = await verify_provider_request(services, provider, request)
    incoming = _incoming_call(config, request)
    agent = await load_agent(services.stores, agent_id)
    if not config.allows_agent(agent_id):
        raise ForbiddenError(
            f"agent {agent_id} may not receive {PROVIDER_NAMES[provider]} calls (callCreationAllowedAgentIds)"
        )
    fields = request.flat_fields()
    context = map_request_context(fields, config.request_context_mapping)
    settings = merge_agent_call(agent, AgentCallCreate(template_context=context), services.secret_box.encrypt)
    plan = _plan_stream(config, settings)
    provider_call = await find_provider_call(services, provider, incoming.provider_call_id)
    retried = provider_call.unanswered
    if retried is not None:
        # The provider asked again before using our answer (a retry after a slow response): answer
        # with the same call and join URL rather than leave a second, never-joined call behind.
        logger.info(
            "%s call %s asked again: same answer, call %s",
            provider.value,
            incoming.provider_call_id,
            retried.call_id,
        )
        status_callback = status_callback_url(services.settings.public_base_url, retried.call_id, provider)
        join_url = services.calls.join_url_of(retried)
        return Response(content=plan.render(retried, join_url, status_callback), media_type=plan.media_type)
    await admit_new_call(services, provider_call, request)
    details = ProviderDetails(
        provider=provider,
        call_id=incoming.provider_call_id,
        account_id=incoming.account_id,
        from_=incoming.from_,
        to=incoming.to,
    )
    created = await services.calls.create(
        settings.model_copy(update={"medium": plan.medium}),
        agent_id=agent_id,
        template_context=context,
        provider_details=details,
    )
    call = created.call
    # Callbacks that carry only the provider's call id (Exotel's StatusCallback, Plivo's hangup_url) find
    # the call through this index.
    await remember_call(services, provider_call, call.call_id)
    status_callback = status_callback_url(services.settings.public_base_url, call.call_id, provider)
    logger.info("%s call %s answered as call %s", provider.value, incoming.provider_call_id, call.call_id)
    return Response(content=plan.render(call, created.join_url, status_callback), media_type=plan.media_type)


def status_callback_url(public_base_url: str, call_id: UUID, provider: Provider) -> str:
    return f"{public_base_url.rstrip('/')}/api/calls/{call_id}/provider_status/{provider.value}"


def _incoming_call(config: StoredProviderConfig, request: ProviderRequest) -> IncomingCall:
    match config:
        case StoredTwilioConfig():
            if request.field("AccountSid") != config.account_sid:
                raise ForbiddenError("AccountSid does not match the imported Twilio account")
            return _required(request, "CallSid", account=config.account_sid)
        case StoredTelnyxConfig():
            # CallSid is the call_control_id (§2.1); AccountSid is informational: the signature already
            # proves the request is from the account whose public key we hold.
            return _required(request, "CallSid", account=request.field("AccountSid") or config.account_sid)
        case StoredPlivoConfig():
            return _required(request, "CallUUID", account=config.auth_id)
        case StoredExotelConfig():
            return _required(request, "CallSid", account=config.account_sid)


def _required(request: ProviderRequest, call_id_field: str, *, account: str) -> IncomingCall:
    provider_call_id = request.field(call_id_field)
    if provider_call_id is None:
        raise InvalidRequestError(f"{call_id_field} is missing")
    return IncomingCall(
        provider_call_id=provider_call_id,
        from_=request.field("From", "CallFrom"),
        to=request.field("To", "CallTo"),
        account_id=account,
    )


def _template_medium(settings: SealedCallSettings, provider: Provider) -> dict[str, Any]:
    """The agent template's settings for this provider (without ``outgoing``: this call came in)."""
    medium = settings.medium
    if medium is None or medium.provider is not provider:
        return {}
    return medium.settings.model_dump(exclude={"outgoing"}, exclude_none=True, by_alias=False)


def _plan_stream(config: StoredProviderConfig, settings: SealedCallSettings) -> StreamPlan:
    provider = config.PROVIDER
    template = _template_medium(settings, provider)
    chosen: ProviderMedium
    match config:
        case StoredTwilioConfig():
            chosen = TwilioMedium.model_validate(template)
            return StreamPlan(_medium(provider, chosen), XML_MEDIA_TYPE, _twiml)
        case StoredTelnyxConfig():
            audio = telnyx.choose_audio(TelnyxMedium.model_validate(template) if template else None, config)
            chosen = TelnyxMedium.model_validate(
                {**template, "codec": audio.codec, "sample_rate": audio.sample_rate_hz}
            )

            def texml(call: Call, join_url: str, status_callback: str) -> str:
                return telnyx.connect_stream_texml(join_url, str(call.call_id), status_callback, audio)

            return StreamPlan(_medium(provider, chosen), XML_MEDIA_TYPE, texml)
        case StoredPlivoConfig():
            plivo_audio = plivo.choose_audio(
                PlivoMedium.model_validate(template) if template else None, config
            )
            chosen = PlivoMedium.model_validate(
                {**template, "codec": plivo_audio.codec, "sample_rate": plivo_audio.sample_rate_hz}
            )

            def plivo_xml(call: Call, join_url: str, status_callback: str) -> str:
                return plivo.stream_xml(join_url, status_callback, plivo_audio)

            return StreamPlan(_medium(provider, chosen), XML_MEDIA_TYPE, plivo_xml)
        case StoredExotelConfig():
            rate_hz = exotel.choose_sample_rate_hz(
                ExotelMedium.model_validate(template) if template else None, config
            )
            chosen = ExotelMedium.model_validate({**template, "sample_rate": rate_hz})

            def exotel_json(call: Call, join_url: str, status_callback: str) -> str:
                return exotel.stream_url_json(join_url, rate_hz)

            return StreamPlan(_medium(provider, chosen), JSON_MEDIA_TYPE, exotel_json)


def _twiml(call: Call, join_url: str, status_callback: str) -> str:
    return twilio.connect_stream_twiml(
        join_url, {"callId": str(call.call_id)}, status_callback=status_callback
    )


def _medium(provider: Provider, settings: ProviderMedium) -> CallMedium:
    return CallMedium.model_validate({provider.value: settings})
