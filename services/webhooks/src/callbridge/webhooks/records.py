"""Reading and deleting stored agents and calls for the routes, including records that cannot be read: each
is named as unreadable with the request that removes it, and can be deleted like any other."""

from __future__ import annotations

import json
import logging
from uuid import UUID

from callbridge.common.bus import Stores
from callbridge.common.models.agent import Agent
from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider
from callbridge.common.models.provider_calls import provider_call_key
from callbridge.common.store import CorruptRecordError
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.webhooks.errors import NotFoundError, StateConflictError, UnreadableRecordError

logger = logging.getLogger(__name__)


def _unreadable(kind: str, path: str, exc: CorruptRecordError) -> UnreadableRecordError:
    logger.error("unreadable %s: %s", kind, exc)
    return UnreadableRecordError(
        f"the stored {kind} cannot be read (written by an older or broken version of callbridge); "
        f"DELETE {path} removes it"
    )


async def load_agent(stores: Stores, agent_id: UUID) -> Agent:
    try:
        return (await stores.agents.get(str(agent_id))).value
    except StoreNotFoundError:
        raise NotFoundError(f"agent {agent_id} not found") from None
    except CorruptRecordError as exc:
        raise _unreadable(f"agent {agent_id}", f"/api/agents/{agent_id}", exc) from exc


async def load_call(stores: Stores, call_id: UUID) -> Call:
    try:
        return (await stores.calls.get(str(call_id))).value
    except StoreNotFoundError:
        raise NotFoundError(f"call {call_id} not found") from None
    except CorruptRecordError as exc:
        raise _unreadable(f"call {call_id}", f"/api/calls/{call_id}", exc) from exc


async def delete_agent(stores: Stores, agent_id: UUID) -> None:
    try:
        await stores.agents.delete(str(agent_id))
    except StoreNotFoundError:
        raise NotFoundError(f"agent {agent_id} not found") from None


async def delete_call(stores: Stores, call_id: UUID) -> None:
    """Delete an ended call (or one that cannot be read) and the provider-call index entry that names it."""
    try:
        call = (await stores.calls.get(str(call_id))).value
    except StoreNotFoundError:
        raise NotFoundError(f"call {call_id} not found") from None
    except CorruptRecordError as exc:
        index_key = _salvage_index_key(exc.raw)
        removed = None
    else:
        removed = call
        if call.ended is None:
            raise StateConflictError(f"call {call_id} has not ended; a call can be deleted once it has ended")
        details = call.provider_details
        index_key = (
            provider_call_key(details.provider, details.call_id) if details and details.call_id else None
        )
    try:
        await stores.calls.delete(str(call_id))
    except StoreNotFoundError:
        raise NotFoundError(f"call {call_id} not found") from None
    if removed is not None:
        await stores.call_listing.removed(removed)  # listings skip it already; this fixes their totals
    if index_key is not None:
        await _unlink(stores, index_key, call_id)


async def _unlink(stores: Stores, index_key: str, call_id: UUID) -> None:
    """Remove the provider-call index entry if it still points at this call (a later call may reuse it)."""
    try:
        link = await stores.provider_calls.find(index_key)
    except CorruptRecordError as exc:
        logger.warning("left unreadable provider-call index entry %s alone: %s", index_key, exc)
        return
    if link is not None and link.value.call_id == call_id:
        await stores.provider_calls.delete(index_key)


def _salvage_index_key(raw: bytes) -> str | None:
    """The provider-call index key of a call record that does not parse as a Call, if its
    ``providerDetails`` still say which provider call it was."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    details = document.get("providerDetails") if isinstance(document, dict) else None
    if not isinstance(details, dict):
        return None
    provider, provider_call_id = details.get("provider"), details.get("callId")
    if (
        provider not in {p.value for p in Provider}
        or not isinstance(provider_call_id, str)
        or not provider_call_id
    ):
        return None
    return provider_call_key(Provider(provider), provider_call_id)
