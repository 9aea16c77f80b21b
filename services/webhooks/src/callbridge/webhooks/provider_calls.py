"""What callbridge remembers of each provider call, and what it lets a new request for it do.

A provider call (a Twilio CallSid, a Plivo CallUUID, …) may ask for a stream more than once: the
provider retries a slow answer with the very same request, and a flow may run the stream verb again
with a request of its own. A captured request sent again must do neither: Twilio and Plivo sign no
timestamp, so a replay is told by what is kept here and in the replay bucket:

- while the provider call's latest callbridge call is not joined or ended, every verified request for
  it gets that same call back (a retry; a replay in this window learns nothing the first answer did not);
- otherwise a request makes a new call only if its signature was never answered before (kept 24 hours,
  ``buckets.WEBHOOK_REPLAYS_TTL``) and the provider call was first seen less than 24 hours ago
  (``buckets.PROVIDER_CALL_STREAM_WINDOW``, longer than any call lasts); anything else is a replay: 403.

The index is kept as long as the calls, so that second rule holds however late a replay comes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from callbridge.common import buckets
from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider
from callbridge.common.models.provider_calls import ProviderCallLink, provider_call_key
from callbridge.telephony import RequestNotVerified, Verified
from callbridge.telephony.request import ProviderRequest
from callbridge.webhooks.deps import Services
from callbridge.webhooks.redaction import redact_secret_paths
from callbridge.webhooks.verification import record_answered_signature

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One provider call as the index knows it."""

    provider: Provider
    provider_call_id: str
    link: ProviderCallLink | None
    latest: Call | None
    """The latest callbridge call created for it (None: never answered, or the record is gone)."""

    @property
    def key(self) -> str:
        return provider_call_key(self.provider, self.provider_call_id)

    @property
    def unanswered(self) -> Call | None:
        """The latest call, if its stream has not been opened yet: a repeated request gets it back."""
        latest = self.latest
        return latest if latest is not None and latest.joined is None and latest.ended is None else None

    @property
    def first_seen(self) -> datetime | None:
        if self.link is None:
            return None
        if self.link.first_seen is not None:
            return self.link.first_seen
        return None if self.latest is None else self.latest.created


async def find_provider_call(services: Services, provider: Provider, provider_call_id: str) -> ProviderCall:
    found = await services.stores.provider_calls.find(provider_call_key(provider, provider_call_id))
    link = None if found is None else found.value
    latest = None
    if link is not None:
        call = await services.stores.calls.find(str(link.call_id))
        latest = None if call is None else call.value
    return ProviderCall(provider, provider_call_id, link, latest)


async def admit_new_call(
    services: Services, provider_call: ProviderCall, request: ProviderRequest, verified: Verified
) -> None:
    """Let this verified request create a new call for ``provider_call``, or raise RequestNotVerified (403)
    for a replay. Call it only when ``provider_call.unanswered`` is None."""
    try:
        first_seen = provider_call.first_seen
        if first_seen is not None and datetime.now(UTC) - first_seen > buckets.PROVIDER_CALL_STREAM_WINDOW:
            hours = round(buckets.PROVIDER_CALL_STREAM_WINDOW.total_seconds() / 3600)
            raise RequestNotVerified(
                f"replayed request: {provider_call.provider.value} call {provider_call.provider_call_id} "
                f"was first answered more than {hours} hours ago"
            )
        await record_answered_signature(services, provider_call.provider, verified)
    except RequestNotVerified as exc:
        url = redact_secret_paths(request.url)
        logger.warning("refused %s request to %s: %s", provider_call.provider.value, url, exc)
        raise


async def remember_call(services: Services, provider_call: ProviderCall, call_id: UUID) -> None:
    """Index the new call under the provider's call id (callbacks that carry only that id find it there),
    keeping when the provider call was first seen."""
    first_seen = provider_call.first_seen or datetime.now(UTC)
    link = ProviderCallLink(call_id=call_id, first_seen=first_seen)
    await services.stores.provider_calls.put(provider_call.key, link)
