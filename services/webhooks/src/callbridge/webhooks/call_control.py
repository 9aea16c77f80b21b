"""Call control through the API: a cold transfer or keys sent out of band, checked here and published for the
transfer service, which carries them out against the provider's REST API and announces the outcome as a call
event (``transfer``, ``dtmf_sent``).

What is checked before anything is published, so a request that cannot succeed is refused clearly: the call
exists (404), has not ended and its provider call is known (409), and its provider can do it with the
imported credentials (422, the provider plugin's reason). Plivo runs a transfer by fetching XML from a URL:
``transfer_xml`` serves the ``<Dial>`` of the claimed command, and ``conference_xml`` the ``<Conference>``
that joins the two calls of an accepted warm transfer, each verified as any Plivo request."""

from __future__ import annotations

from typing import Any
from uuid import UUID
from xml.sax.saxutils import escape, quoteattr

from fastapi import Response

from callbridge.common.call_control import (
    ColdTransfer,
    ColdTransferRequest,
    CommandAccepted,
    CommandClaim,
    SendDtmf,
    SendDtmfRequest,
)
from callbridge.common.call_records import call_provider
from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider
from callbridge.common.store import KvStore
from callbridge.common.warm_transfer import ANY_COMMAND, WarmTransferState, conference_room, state_key
from callbridge.telephony import StoredTelephonyConfig, TelephonyProvider, provider_for
from callbridge.telephony.request import ProviderRequest
from callbridge.webhooks.deps import Services
from callbridge.webhooks.errors import InvalidRequestError, NotFoundError, StateConflictError
from callbridge.webhooks.records import load_call
from callbridge.webhooks.verification import verify_provider_request


async def request_transfer(services: Services, call_id: UUID, body: ColdTransferRequest) -> CommandAccepted:
    call = await load_call(services.stores, call_id)
    plugin, config = await _live_account(services, call, "transfer")
    refusal = plugin.transfer_refusal(config, body.target, hold_music=body.hold_music_url is not None)
    if refusal is not None:
        raise InvalidRequestError(refusal)
    command = ColdTransfer(call_id=call_id, origin="api", **body.model_dump(by_alias=False))
    await services.call_control.publish(command, trace_context=call.trace_context)
    return CommandAccepted(call_id=call_id, command_id=command.command_id, command=command.command)


async def request_dtmf(services: Services, call_id: UUID, body: SendDtmfRequest) -> CommandAccepted:
    call = await load_call(services.stores, call_id)
    plugin, _ = await _live_account(services, call, "send DTMF")
    refusal = plugin.dtmf_refusal(tone_length=body.tone_duration is not None)
    if refusal is not None:
        raise InvalidRequestError(refusal)
    command = SendDtmf(call_id=call_id, origin="api", **body.model_dump(by_alias=False))
    await services.call_control.publish(command, trace_context=call.trace_context)
    return CommandAccepted(call_id=call_id, command_id=command.command_id, command=command.command)


async def _live_account(
    services: Services, call: Call, what: str
) -> tuple[TelephonyProvider[Any], StoredTelephonyConfig]:
    if call.ended is not None:
        raise StateConflictError(f"call {call.call_id} has ended ({call.end_reason})")
    provider = call_provider(call)
    details = call.provider_details
    if provider is None or details is None or details.call_id is None:
        raise StateConflictError(
            f"call {call.call_id} has not been answered by a provider yet: nothing to {what}"
        )
    plugin = provider_for(provider)
    config = await services.configs.find(provider)
    if config is None:
        raise InvalidRequestError(
            f"no {plugin.display_name} credentials are imported: import them with "
            f"POST /api/telephony_configs/{provider.value} to {what} through {plugin.display_name}"
        )
    return plugin, config


async def transfer_xml(
    services: Services,
    claims: KvStore[CommandClaim],
    call_id: UUID,
    command_id: UUID,
    request: ProviderRequest,
) -> Response:
    """The ``<Dial>`` Plivo runs for a transfer (its ``aleg_url``), verified by Plivo's signature."""
    plugin = provider_for(Provider.PLIVO)
    await verify_provider_request(services, plugin, request)
    found = await claims.find(str(command_id))
    # Any command's claim may be named here (a warm transfer's too): only a cold transfer has a <Dial>.
    command = None if found is None else ANY_COMMAND.validate_json(found.value.body)
    if not isinstance(command, ColdTransfer) or command.call_id != call_id:
        raise NotFoundError(f"no transfer {command_id} of call {call_id}")
    return Response(content=plivo_dial_xml(command), media_type="application/xml")


async def conference_xml(
    services: Services, states: KvStore[WarmTransferState], call_id: UUID, request: ProviderRequest
) -> Response:
    """The ``<Conference>`` both Plivo calls of an accepted warm transfer run (their ``aleg_url``), verified
    by Plivo's signature; 404 unless the warm transfer of ``call_id`` was accepted."""
    plugin = provider_for(Provider.PLIVO)
    await verify_provider_request(services, plugin, request)
    found = await states.find(state_key(call_id))
    if found is None or found.value.decision != "accepted":
        raise NotFoundError(f"no accepted warm transfer of call {call_id}")
    return Response(content=plivo_conference_xml(conference_room(call_id)), media_type="application/xml")


def plivo_conference_xml(room: str) -> str:
    """``<Response><Conference>``: the room ends when either call leaves, no beep, no hold music."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Conference startConferenceOnEnter="true" '
        f'endConferenceOnExit="true" enterSound="" exitSound="" waitSound="">{escape(room)}</Conference>'
        "</Response>"
    )


def plivo_dial_xml(command: ColdTransfer) -> str:
    """``<Response><Dial><Number>`` (or ``<User>`` for a SIP URI, with its headers as ``sipHeaders``)."""
    dial_attributes = ""
    if command.hold_music_url is not None:
        dial_attributes = f" dialMusic={quoteattr(str(command.hold_music_url))}"
    if command.is_sip:
        headers = ",".join(f"{name}={value}" for name, value in command.extra_headers.items())
        header_attribute = f" sipHeaders={quoteattr(headers)}" if headers else ""
        target = f"<User{header_attribute}>{escape(command.target)}</User>"
    else:
        target = f"<Number>{escape(command.target)}</Number>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Dial{dial_attributes}>{target}</Dial></Response>'
    )
