"""Provider calls left behind: an outbound call that ends on callbridge's side while its provider call is
still up (hung up through the API while ringing, past its join deadline, ended by media on a provider that
keeps the call up when the stream closes: Telnyx Call Control) is hung up at the provider.

Every ``ended`` event goes to one durable consumer the dialer replicas share. Hanging up is idempotent at
every provider (``ALREADY_ENDED``), so a redelivered event does no harm.
"""

from __future__ import annotations

import logging
from uuid import UUID

from callbridge.common.events import CallEnded
from callbridge.common.models.call import Call, DialStatus, EndReason
from callbridge.common.models.medium import Provider
from callbridge.common.store import KvStore
from callbridge.dialer import metrics
from callbridge.telephony import ProviderApiError, ProviderUnavailable, RestClients

logger = logging.getLogger(__name__)

PROVIDER_ENDED = frozenset(
    {DialStatus.COMPLETED, DialStatus.BUSY, DialStatus.NO_ANSWER, DialStatus.FAILED, DialStatus.CANCELED}
)
"""Steps after which the provider's call is over: nothing to hang up."""
NOTHING_PLACED = frozenset({EndReason.DIAL_FAILED, EndReason.BUSY, EndReason.NO_ANSWER})


def provider_call_left_up(call: Call) -> str | None:
    """The provider call id to hang up, or None: not outbound, never placed, or over at the provider."""
    details = call.provider_details
    if call.direction != "outbound" or details is None or details.call_id is None:
        return None
    if call.end_reason in NOTHING_PLACED:
        return None
    if any(step.status in PROVIDER_ENDED for step in call.dial_statuses):
        return None
    return details.call_id


async def on_call_ended(event: CallEnded, calls: KvStore[Call], clients: RestClients) -> None:
    """Hang up the provider call the ended call leaves up; ProviderUnavailable means: try again later."""
    found = await calls.find(str(event.call_id))
    if found is None:
        return
    call = found.value
    provider_call_id = provider_call_left_up(call)
    if provider_call_id is None or call.medium is None:
        return
    await hang_up_provider_call(clients, call.medium.provider, provider_call_id, call.call_id)


async def hang_up_provider_call(
    clients: RestClients, provider: Provider, provider_call_id: str, call_id: UUID
) -> None:
    """Hang up the provider's call; raises ProviderUnavailable for a try later."""
    account = await clients.client(provider)
    if account is None:
        metrics.PROVIDER_HANGUPS.labels(provider.value, "no_credentials").inc()
        logger.warning("call %s: cannot hang up %s call: no credentials", call_id, provider.value)
        return
    _, client = account
    try:
        result = await client.hang_up(provider_call_id)
    except ProviderUnavailable:
        raise
    except ProviderApiError as exc:
        metrics.PROVIDER_HANGUPS.labels(provider.value, "refused").inc()
        logger.warning("call %s: %s refused the hang-up: %s", call_id, provider.value, exc)
        return
    metrics.PROVIDER_HANGUPS.labels(provider.value, result.value).inc()
    logger.info("call %s: %s call %s: %s", call_id, provider.value, provider_call_id, result.value)
