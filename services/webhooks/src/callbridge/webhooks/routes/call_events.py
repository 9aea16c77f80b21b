"""``GET /api/calls/{call_id}/events``: a call's events, read back from the events stream."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request

from callbridge.common.models.call_event import CallEventPage, CallEventPublic
from callbridge.webhooks import records
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.errors import InvalidRequestError
from callbridge.webhooks.openapi import API_KEY_ERRORS, errors
from callbridge.webhooks.params import CallId, Cursor, PageSize

router = APIRouter(prefix="/api", tags=["calls"], dependencies=[ApiKeyDep], responses=API_KEY_ERRORS)

_CURSOR_PREFIX = "e:"


def _encode(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{sequence}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequestError("invalid cursor: take it from a page's next URL") from None
    number = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not number.isdigit() or len(number) > 19:
        raise InvalidRequestError("invalid cursor: take it from a page's next URL")
    return int(number)


@router.get("/calls/{call_id}/events", response_model=CallEventPage, responses=errors(404, 409, 422))
async def list_call_events(
    services: ServicesDep, request: Request, call_id: CallId, cursor: Cursor = None, page_size: PageSize = 100
) -> CallEventPage:
    """A call's events, oldest first, a page at a time: everything published about it on the events stream
    (created, joined, transcripts, keys, barge-ins, tools, provider statuses, ended, …), in Ultravox's
    CallEvent shape with the whole event in ``extras``. Events are kept for 7 days (the events stream's
    retention); an older call lists none."""
    call = await records.load_call(services.stores, call_id)
    after = _decode(cursor) if cursor else 0
    page = await services.stores.call_events.page(call_id, after=after, limit=page_size)
    total = await services.stores.call_events.count(call_id)
    results = [CallEventPublic.of(stored.event, call.created) for stored in page.events]
    next_url = None
    if page.more and page.last_sequence is not None:
        next_url = str(request.url.include_query_params(cursor=_encode(page.last_sequence)))
    previous = str(request.url.remove_query_params("cursor")) if cursor else None
    return CallEventPage(results=results, next=next_url, previous=previous, total=total)
