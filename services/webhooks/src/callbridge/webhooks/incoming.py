"""An incoming call from any provider: detect, verify, create the call, and answer in the provider's format.

Nothing is written until the request is verified and the agent may take the provider's calls. What differs
between providers is asked of the provider's plugin (callbridge.telephony); this module is the same for all.
"""

from __future__ import annotations

import logging
from uuid import UUID

from fastapi import Response

from callbridge.common.call_factory import merge_agent_call
from callbridge.common.models.call import AgentCallCreate, ProviderDetails
from callbridge.common.models.medium import Provider
from callbridge.telephony import StreamTarget, detect_provider, provider_for
from callbridge.telephony.request import ProviderRequest
from callbridge.webhooks.deps import Services
from callbridge.webhooks.errors import ForbiddenError
from callbridge.webhooks.provider_calls import admit_new_call, find_provider_call, remember_call
from callbridge.webhooks.records import load_agent
from callbridge.webhooks.request_context import map_request_context
from callbridge.webhooks.verification import verify_provider_request

logger = logging.getLogger(__name__)


async def answer_incoming_call(services: Services, agent_id: UUID, request: ProviderRequest) -> Response:
    imported = await services.configs.imported()
    plugin = provider_for(detect_provider(request, imported))
    provider = plugin.provider
    verified = await verify_provider_request(services, plugin, request)
    config = verified.config
    incoming = plugin.incoming_call(request, config)
    agent = await load_agent(services.stores, agent_id)
    if not config.allows_agent(agent_id):
        raise ForbiddenError(
            f"agent {agent_id} may not receive {plugin.display_name} calls (callCreationAllowedAgentIds)"
        )
    context = map_request_context(request.flat_fields(), config.request_context_mapping)
    settings = merge_agent_call(agent, AgentCallCreate(template_context=context), services.secret_box.encrypt)
    plan = plugin.plan_stream(config, settings.medium)
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
        target = _target(services, retried.call_id, services.calls.join_url_of(retried), provider)
        answer = plan.answer(target)
        return Response(content=answer.body, media_type=answer.media_type)
    await admit_new_call(services, provider_call, request, verified.verified)
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
    logger.info("%s call %s answered as call %s", provider.value, incoming.provider_call_id, call.call_id)
    answer = plan.answer(_target(services, call.call_id, created.join_url, provider))
    return Response(content=answer.body, media_type=answer.media_type)


def status_callback_url(public_base_url: str, call_id: UUID, provider: Provider) -> str:
    return f"{public_base_url.rstrip('/')}/api/calls/{call_id}/provider_status/{provider.value}"


def _target(services: Services, call_id: UUID, join_url: str, provider: Provider) -> StreamTarget:
    status_callback = status_callback_url(services.settings.public_base_url, call_id, provider)
    return StreamTarget(call_id=call_id, join_url=join_url, status_callback_url=status_callback)
