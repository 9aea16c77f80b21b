"""Provider status callbacks: per call (the URL callbridge puts in its answer) and per provider (URLs
configured once at the provider, which find the call by the provider's call id).

No API key: verified like the incoming webhook. A provider that signs nothing (Exotel) authenticates them by
Basic Auth with the webhook secret as the password, or by
``/api/telephony/{provider}/status/{webhookSecret}``.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response

from callbridge.telephony import provider_for
from callbridge.webhooks.call_control import conference_xml, transfer_xml
from callbridge.webhooks.deps import ServicesDep
from callbridge.webhooks.errors import NotFoundError
from callbridge.webhooks.openapi import errors
from callbridge.webhooks.outbound_answer import answer_outbound_call
from callbridge.webhooks.params import CallId, ProviderName, WebhookSecret
from callbridge.webhooks.provider_request import read_provider_request
from callbridge.webhooks.status_callbacks import ProviderStatusReceipt, receive_status

router = APIRouter(prefix="/api", tags=["provider webhooks"], responses=errors(400, 403, 404, 409, 413, 422))


@router.post("/calls/{call_id}/provider_status/{provider}", response_model=ProviderStatusReceipt)
@router.get("/calls/{call_id}/provider_status/{provider}", response_model=ProviderStatusReceipt)
async def call_provider_status(
    services: ServicesDep, call_id: CallId, provider: ProviderName, request: Request
) -> ProviderStatusReceipt:
    """The ``statusCallback`` of the stream callbridge started (Twilio, Telnyx, Plivo), or any status
    callback whose URL names the call."""
    provider_request = await read_provider_request(
        request, services.settings.public_base_url, allow_json=provider_for(provider).status_accepts_json
    )
    return await receive_status(services, provider, provider_request, call_id)


@router.post(
    "/calls/{call_id}/answer/{provider}",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "Plivo XML with <Stream>"}},
)
@router.get("/calls/{call_id}/answer/{provider}", response_class=Response, include_in_schema=False)
async def outbound_answer(
    services: ServicesDep, call_id: CallId, provider: ProviderName, request: Request
) -> Response:
    """The answer URL of an outbound Plivo call (its ``answer_url``): the ``<Stream>`` XML that connects the
    answered call to its join URL. Verified by Plivo's signature; 404 for another provider, 409 once the
    call has ended."""
    provider_request = await read_provider_request(request, services.settings.public_base_url)
    return await answer_outbound_call(services, call_id, provider, provider_request)


@router.post(
    "/calls/{call_id}/transfer_xml/plivo/{command_id}",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "Plivo XML with <Dial>"}},
)
async def plivo_transfer_xml(
    services: ServicesDep,
    call_id: CallId,
    command_id: Annotated[UUID, Path(description="The transfer's commandId.")],
    request: Request,
) -> Response:
    """The XML a Plivo call transferred by callbridge runs (its ``aleg_url``): ``<Dial>`` to the transfer's
    target. Verified by Plivo's signature; 404 for an unknown transfer."""
    provider_request = await read_provider_request(request, services.settings.public_base_url)
    return await transfer_xml(services, services.command_claims, call_id, command_id, provider_request)


@router.post(
    "/calls/{call_id}/conference_xml/plivo",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "Plivo XML with <Conference>"}},
)
async def plivo_conference_xml(services: ServicesDep, call_id: CallId, request: Request) -> Response:
    """The XML both Plivo calls of an accepted warm transfer run (their ``aleg_url``): one ``<Conference>``
    named after the caller's call. Verified by Plivo's signature; 404 unless that transfer was accepted."""
    provider_request = await read_provider_request(request, services.settings.public_base_url)
    return await conference_xml(services, services.warm_transfers, call_id, provider_request)


@router.post("/telephony/{provider}/status", response_model=ProviderStatusReceipt)
@router.get("/telephony/{provider}/status", response_model=ProviderStatusReceipt)
async def provider_status(
    services: ServicesDep, provider: ProviderName, request: Request
) -> ProviderStatusReceipt:
    """A status URL configured once at the provider (Plivo hangup URL, Telnyx webhook URL, Twilio call
    status callback, Exotel StatusCallback with Basic Auth); the call is found by the provider's id."""
    provider_request = await read_provider_request(
        request, services.settings.public_base_url, allow_json=provider_for(provider).status_accepts_json
    )
    return await receive_status(services, provider, provider_request)


@router.post("/telephony/{provider}/status/{webhook_secret}", response_model=ProviderStatusReceipt)
@router.get("/telephony/{provider}/status/{webhook_secret}", response_model=ProviderStatusReceipt)
async def provider_status_with_secret(
    services: ServicesDep, provider: ProviderName, webhook_secret: WebhookSecret, request: Request
) -> ProviderStatusReceipt:
    """A status URL with the webhook secret as its last path segment, for a provider that signs nothing
    (Exotel's StatusCallback or Passthru URL); 404 for one that signs its requests."""
    plugin = provider_for(provider)
    if not plugin.takes_path_secret:
        raise NotFoundError(f"{plugin.display_name} signs its requests: its status URL takes no secret")
    provider_request = await read_provider_request(
        request,
        services.settings.public_base_url,
        allow_json=plugin.status_accepts_json,
        path_secret=webhook_secret,
    )
    return await receive_status(services, provider, provider_request)
