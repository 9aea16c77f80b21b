"""``/api/agents/{agent_id}/telephony_xml``: every provider's incoming-call webhook.

No API key here: the provider's signature (Exotel: the webhook secret) is the credential. Nothing is
created unless it verifies. The answer is TwiML (Twilio), TeXML (Telnyx), Plivo XML, or Exotel's JSON.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from callbridge.webhooks.deps import ServicesDep
from callbridge.webhooks.incoming import answer_incoming_call
from callbridge.webhooks.openapi import errors
from callbridge.webhooks.params import AgentId, WebhookSecret
from callbridge.webhooks.provider_request import read_provider_request

router = APIRouter(prefix="/api/agents", tags=["provider webhooks"])

_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/xml": {}, "application/json": {}},
        "description": "TwiML, TeXML or Plivo XML that connects the media stream; for Exotel, "
        '`{"url": "wss://…"}`',
    },
    **errors(400, 403, 404, 409, 413, 422),
}


@router.post("/{agent_id}/telephony_xml", response_class=Response, responses=_ANSWERS)
@router.get("/{agent_id}/telephony_xml", response_class=Response, responses=_ANSWERS)
async def telephony_xml(services: ServicesDep, agent_id: AgentId, request: Request) -> Response:
    """A provider's incoming-call webhook (Twilio, Telnyx TeXML, Plivo answer URL, Exotel with Basic Auth):
    verified by the provider's signature, it creates the call and answers with the document that
    connects the provider's media stream to it."""
    provider_request = await read_provider_request(request, services.settings.public_base_url)
    return await answer_incoming_call(services, agent_id, provider_request)


@router.post("/{agent_id}/telephony_xml/{webhook_secret}", response_class=Response, responses=_ANSWERS)
@router.get("/{agent_id}/telephony_xml/{webhook_secret}", response_class=Response, responses=_ANSWERS)
async def telephony_xml_with_secret(
    services: ServicesDep, agent_id: AgentId, webhook_secret: WebhookSecret, request: Request
) -> Response:
    """Exotel, which signs nothing, authenticated by the webhook secret as the last path segment."""
    provider_request = await read_provider_request(
        request, services.settings.public_base_url, path_secret=webhook_secret
    )
    return await answer_incoming_call(services, agent_id, provider_request)
