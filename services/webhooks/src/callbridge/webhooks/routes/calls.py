"""``/api/calls`` and ``/api/agents/{agent_id}/calls``: start calls, read them, delete ended ones.

Only the answer to the request that creates a call carries its ``joinUrl``; reading the call later
shows ``joinUrl: null`` (the join token is a credential, like the agent's header values, which are never
returned)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from callbridge.common.call_control import ColdTransferRequest, CommandAccepted, SendDtmfRequest
from callbridge.common.call_factory import merge_agent_call
from callbridge.common.call_listing import CallQuery, InvalidCursorError
from callbridge.common.models.call import AgentCallCreate, CallCreate, CallHangUp, CallPage, CallPublic
from callbridge.common.models.supported import refuse_unsupported
from callbridge.webhooks import records
from callbridge.webhooks.admission import ThrottleRef, throttle_admission
from callbridge.webhooks.call_control import request_dtmf, request_transfer
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.errors import InvalidRequestError
from callbridge.webhooks.filters import AgentCallFilters, CallFilters
from callbridge.webhooks.hang_up import hang_up_call
from callbridge.webhooks.openapi import API_KEY_ERRORS, BODY_ERRORS, errors
from callbridge.webhooks.params import AgentId, CallId, Cursor, PageSize

router = APIRouter(prefix="/api", tags=["calls"], dependencies=[ApiKeyDep], responses=API_KEY_ERRORS)


@router.post(
    "/calls",
    status_code=status.HTTP_201_CREATED,
    response_model=CallPublic,
    responses={**BODY_ERRORS, **errors(429)},
)
async def create_call(services: ServicesDep, body: CallCreate, throttle: ThrottleRef = None) -> CallPublic:
    """Create a call from a full definition. Point the provider's media stream at the returned
    ``joinUrl`` within ``joinTimeout``; with ``medium.<provider>.outgoing``, callbridge places the call
    itself (422 without the provider's credentials; 429 with ``Retry-After`` when the account is full)."""
    admit = await throttle_admission(services.stores, throttle)
    created = await services.calls.create(body.sealed(services.secret_box.encrypt), admit=admit)
    return created.public()


@router.get("/calls", response_model=CallPage, responses=errors(422))
async def list_calls(
    services: ServicesDep,
    request: Request,
    filters: Annotated[CallFilters, Depends()],
    cursor: Cursor = None,
    page_size: PageSize = 100,
) -> CallPage:
    """Calls, newest first, a page at a time, filtered by agent, end reason, status and creation time.

    Each page costs the same however many calls are stored. With ``endReason`` or ``status=ended`` the
    order is newest ended first. A call stored in a form this version cannot read is left out (reading it
    by id says so); a page may hold fewer than ``pageSize`` calls with a ``next`` URL to go on."""
    return await _page(services, request, filters.query(), cursor, page_size)


@router.get("/calls/{call_id}", response_model=CallPublic, responses=errors(404, 409, 422))
async def get_call(services: ServicesDep, call_id: CallId) -> CallPublic:
    """One call: its definition (what an agent reads) and what happened so far. 409 if it is stored in a
    form this version cannot read: delete it."""
    return (await records.load_call(services.stores, call_id)).public()


@router.delete("/calls/{call_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 422))
async def delete_call(services: ServicesDep, call_id: CallId) -> Response:
    """Delete a call that has ended (409 while it goes on), or one stored in a form this version cannot
    read. Its events stay in the event stream."""
    await records.delete_call(services.stores, call_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/calls/{call_id}/hang_up",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CallHangUp,
    responses={**BODY_ERRORS, **errors(404, 409, 503)},
)
async def hang_up(services: ServicesDep, call_id: CallId) -> CallHangUp:
    """Hang up a call that has not ended, wherever its stream is: the media replica holding it lets the
    agent's audio already sent play out (at most 10 s), then ends the call as ``hangup`` with
    ``endDetail`` "hung up through the API"; a call nobody has joined yet ends at once (an outbound one,
    still ringing, as ``canceled``: the provider's call is hung up too). Idempotent:
    asking again while it ends is accepted again. 409 once it has ended; 503 if the replica holding it
    cannot be reached."""
    return await hang_up_call(services.stores, services.publisher, services.media_commands, call_id)


@router.post(
    "/calls/{call_id}/transfer",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CommandAccepted,
    responses={**BODY_ERRORS, **errors(404, 409)},
)
async def transfer(services: ServicesDep, call_id: CallId, body: ColdTransferRequest) -> CommandAccepted:
    """Put the caller through to ``target`` (E.164 or SIP URI), a cold transfer: the agent leaves the call.
    Twilio (call update with ``<Dial>``), Telnyx (``actions/transfer``), Plivo (transfer to ``<Dial>`` XML
    served here); Exotel only where its config's ``flowTransferTarget`` says the flow's next applet
    connects the caller there (the stream ends and the flow goes on). 202 with the ``commandId``: the
    outcome is the call's ``transfer`` event, and a transferred call ends as ``transferred``. 409 for an
    ended call or one no provider has answered yet; 422 when the provider cannot do it or has no imported
    credentials, saying why."""
    return await request_transfer(services, call_id, body)


@router.post(
    "/calls/{call_id}/send_dtmf",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CommandAccepted,
    responses={**BODY_ERRORS, **errors(404, 409)},
)
async def send_dtmf(services: ServicesDep, call_id: CallId, body: SendDtmfRequest) -> CommandAccepted:
    """Press keys on the call out of band, through the provider's API: Telnyx (``send_dtmf``, with
    ``toneDuration``) and Plivo (``DTMF``); 422 on Twilio and Exotel, which have no such API. 202 with the
    ``commandId``: the outcome is the call's ``dtmf_sent`` event. 409 for an ended call or one no provider
    has answered yet."""
    return await request_dtmf(services, call_id, body)


@router.post(
    "/agents/{agent_id}/calls",
    status_code=status.HTTP_201_CREATED,
    response_model=CallPublic,
    responses={**BODY_ERRORS, **errors(404, 409, 429)},
)
async def create_agent_call(
    services: ServicesDep, agent_id: AgentId, body: AgentCallCreate, throttle: ThrottleRef = None
) -> CallPublic:
    """Start a call from an agent: its template with ``templateContext`` filled in and the overrides
    applied. 422 names a placeholder without a value."""
    agent = await records.load_agent(services.stores, agent_id)
    settings = merge_agent_call(agent, body, services.secret_box.encrypt)
    try:  # the template was checked when saved; this catches one saved before a refusal was added
        refuse_unsupported(settings)
    except ValueError as exc:
        raise InvalidRequestError(f"agent {agent_id}'s callTemplate: {exc}; update the agent") from None
    admit = await throttle_admission(services.stores, throttle)
    created = await services.calls.create(
        settings, agent_id=agent_id, template_context=body.template_context, admit=admit
    )
    return created.public()


@router.get("/agents/{agent_id}/calls", response_model=CallPage, responses=errors(404, 409, 422))
async def list_agent_calls(
    services: ServicesDep,
    request: Request,
    agent_id: AgentId,
    filters: Annotated[AgentCallFilters, Depends()],
    cursor: Cursor = None,
    page_size: PageSize = 100,
) -> CallPage:
    """An agent's calls, newest first, a page at a time, with the filters of ``GET /api/calls``."""
    await records.load_agent(services.stores, agent_id)
    return await _page(services, request, filters.query(agent_id), cursor, page_size)


async def _page(
    services: ServicesDep, request: Request, query: CallQuery, cursor: str | None, page_size: int
) -> CallPage:
    try:
        page = await services.stores.call_listing.page(query, cursor, page_size)
    except InvalidCursorError as exc:
        raise InvalidRequestError(str(exc)) from None
    previous = None
    if page.has_previous:
        previous = str(
            request.url.include_query_params(cursor=page.previous_cursor)
            if page.previous_cursor
            else request.url.remove_query_params("cursor")
        )
    return CallPage(
        results=[call.public() for call in page.results],
        next=str(request.url.include_query_params(cursor=page.next_cursor)) if page.next_cursor else None,
        previous=previous,
        total=page.total,
    )
