"""The answer URL of an outbound call for a provider that fetches its stream instructions on answer (Plivo:
``answer_url``): verified like any Plivo request, answered with the same ``<Stream>`` XML an incoming call
gets, pointing at the call's join URL. The request is also the provider's word that the callee answered."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

from fastapi import Response

from callbridge.common.call_records import record_dial_status
from callbridge.common.events import DialStatusChanged
from callbridge.common.models.call import DialStatus, DialStatusEntry
from callbridge.common.models.medium import Provider
from callbridge.telephony import StreamTarget, provider_for
from callbridge.telephony.request import ProviderRequest
from callbridge.webhooks.deps import Services
from callbridge.webhooks.errors import NotFoundError, StateConflictError
from callbridge.webhooks.incoming import status_callback_url
from callbridge.webhooks.records import load_call
from callbridge.webhooks.verification import verify_provider_request

logger = logging.getLogger(__name__)

ANSWER_URL_PROVIDERS = frozenset({Provider.PLIVO})
"""Providers whose outbound calls fetch their stream instructions from an answer URL on answer."""


async def answer_outbound_call(
    services: Services, call_id: UUID, provider: Provider, request: ProviderRequest
) -> Response:
    plugin = provider_for(provider)
    if provider not in ANSWER_URL_PROVIDERS:
        raise NotFoundError(f"{plugin.display_name} takes an outbound call's stream in the dial itself")
    verified = await verify_provider_request(services, plugin, request)
    call = await load_call(services.stores, call_id)
    if call.direction != "outbound" or call.medium is None or call.medium.provider is not provider:
        raise NotFoundError(f"call {call_id} is not an outbound {plugin.display_name} call")
    if call.ended is not None:
        raise StateConflictError(f"call {call_id} has ended ({call.end_reason})")
    answered = DialStatusEntry(status=DialStatus.ANSWERED, provider_status="answer_url", at=datetime.now(UTC))
    call, added = await record_dial_status(
        services.stores.calls, call_id, answered, provider_call_id=request.field("CallUUID")
    )
    if added:
        await services.publisher.publish(
            DialStatusChanged(
                call_id=call_id,
                status=DialStatus.ANSWERED,
                provider=provider,
                provider_status="answer_url",
                attempt=max(1, call.dial_claimed_attempt),
            )
        )
    plan = plugin.plan_stream(verified.config, call.medium)
    target = StreamTarget(
        call_id=call_id,
        join_url=services.calls.join_url_of(call),
        status_callback_url=status_callback_url(services.settings.public_base_url, call_id, provider),
    )
    answer = plan.answer(target)
    logger.info("outbound %s call %s answered: streaming to its join URL", provider.value, call_id)
    return Response(content=answer.body, media_type=answer.media_type)
