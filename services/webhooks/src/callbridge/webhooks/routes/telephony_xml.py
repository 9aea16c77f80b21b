"""``POST /api/agents/{agent_id}/telephony_xml``: the provider's incoming-call webhook.

No API key here: the provider's signature is the credential. Nothing is created unless it verifies.
"""

from __future__ import annotations

import logging
from uuid import UUID

from fastapi import APIRouter, Request, Response

from callbridge.common.models.call import AgentCallCreate, ProviderDetails
from callbridge.common.models.medium import Provider
from callbridge.common.models.telephony import StoredTwilioConfig
from callbridge.common.secrets import SecretDecryptionError
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.webhooks import twilio
from callbridge.webhooks.calls import merge_agent_call
from callbridge.webhooks.deps import ServicesDep
from callbridge.webhooks.errors import ForbiddenError, InvalidRequestError, NotFoundError
from callbridge.webhooks.routes.agents import load_agent
from callbridge.webhooks.routes.telephony_configs import TWILIO_KEY

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/agents", tags=["provider webhooks"])

MAX_WEBHOOK_BODY_BYTES = 64 * 1024


@router.post(
    "/{agent_id}/telephony_xml",
    response_class=Response,
    responses={200: {"content": {"text/xml": {}}, "description": "TwiML that connects the media stream"}},
)
async def telephony_xml(services: ServicesDep, agent_id: UUID, request: Request) -> Response:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise InvalidRequestError(
            f"expected a form-encoded provider webhook (Twilio), got content-type {content_type or 'none'!r}"
        )
    if int(request.headers.get("content-length") or 0) > MAX_WEBHOOK_BODY_BYTES:
        raise InvalidRequestError("webhook body too large")
    form = await request.form()
    config = await _twilio_config(services)
    try:
        auth_token = services.secret_box.decrypt(config.auth_token_encrypted)
    except SecretDecryptionError:
        logger.error("stored Twilio auth token does not decrypt: was CALLBRIDGE_SECRET_KEY changed?")
        raise ForbiddenError("cannot verify the request: stored credentials are unreadable") from None

    url = twilio.signed_url(services.settings.public_base_url, request.url.path, request.url.query)
    if not twilio.verify_signature(auth_token, url, form, request.headers.get(twilio.SIGNATURE_HEADER)):
        logger.warning(
            "refused Twilio webhook for agent %s: bad or missing signature (url %s)", agent_id, url
        )
        raise ForbiddenError("invalid or missing X-Twilio-Signature")
    if form.get("AccountSid") != config.account_sid:
        raise ForbiddenError("AccountSid does not match the imported Twilio account")
    call_sid = form.get("CallSid")
    if not isinstance(call_sid, str) or not call_sid:
        raise InvalidRequestError("CallSid is missing")

    try:
        agent = await load_agent(services, agent_id)
    except NotFoundError:
        raise NotFoundError(f"agent {agent_id} not found") from None
    if not config.allows_agent(agent_id):
        raise ForbiddenError(f"agent {agent_id} may not receive Twilio calls (callCreationAllowedAgentIds)")

    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    context = twilio.map_request_context(fields, config.request_context_mapping)
    settings = merge_agent_call(agent, AgentCallCreate(template_context=context))
    details = ProviderDetails(
        provider=Provider.TWILIO,
        call_id=call_sid,
        account_id=config.account_sid,
        from_=fields.get("From"),
        to=fields.get("To"),
    )
    call = await services.calls.create(
        settings, agent_id=agent_id, template_context=context, provider_details=details
    )
    assert call.join_url is not None  # set by CallFactory.create
    twiml = twilio.connect_stream_twiml(call.join_url, {"callId": str(call.call_id)})
    return Response(content=twiml, media_type="text/xml")


async def _twilio_config(services: ServicesDep) -> StoredTwilioConfig:
    try:
        return (await services.stores.telephony_configs.get(TWILIO_KEY)).value
    except StoreNotFoundError:
        raise ForbiddenError("no Twilio credentials imported: cannot verify the request") from None
