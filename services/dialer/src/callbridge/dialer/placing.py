"""Placing one outbound call: claim the attempt on the call record, dial through the provider's REST API,
record what the provider answered, and end a call that cannot be placed.

Once per attempt: the claim is a compare-and-set of ``dialClaimedAttempt`` on the call record, taken before
anything is sent. A request delivered again after its claim (the replica died, or its acknowledgement was
lost) finds the attempt claimed and is not dialed again; if the first dial did go out, the provider's
callbacks and the media stream carry on with the call, and if it did not, the call ends ``unjoined`` at its
join deadline. A dial the provider may have received without answering (a timeout) is not sent again
either, unless the provider de-duplicates dials by call id (Telnyx).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry import propagate, trace
from opentelemetry.trace import Tracer

from callbridge.common.bus import EventPublisher, Stores
from callbridge.common.call_control import CallControlPublisher, ProviderHangUp
from callbridge.common.call_records import finish_call, record_dial_status
from callbridge.common.dialing import DialCall
from callbridge.common.events import DialStatusChanged
from callbridge.common.models.call import Call, DialStatus, DialStatusEntry, EndReason, ProviderDetails
from callbridge.common.models.medium import Provider
from callbridge.common.models.provider_calls import ProviderCallLink, provider_call_key
from callbridge.common.store import UnchangedError
from callbridge.dialer import metrics
from callbridge.dialer.dial_requests import dial_request
from callbridge.dialer.urls import DialUrls
from callbridge.telephony import (
    DialRequest,
    DialResult,
    InvalidDialRequest,
    ProviderApiError,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderRestClient,
    ProviderUnavailable,
    RestClients,
    provider_for,
)

logger = logging.getLogger(__name__)

MAX_WAIT_S = 30.0
"""The longest one wait between tries, whatever the provider's Retry-After says."""


class PlaceOutcome(enum.StrEnum):
    DIALED = "dialed"
    FAILED = "failed"
    """The provider refused the dial, or kept refusing it: the call ended as ``dial_failed``."""
    AMBIGUOUS = "ambiguous"
    """The provider did not answer: the dial may have gone through; not sent again."""
    ALREADY_CLAIMED = "already_claimed"
    ENDED = "ended"
    """The call had ended before it was dialed (hung up, past its join deadline)."""
    NOT_FOUND = "not_found"
    NOT_OUTBOUND = "not_outbound"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    tries: int = 4
    backoff_s: float = 1.0

    def wait_s(self, try_number: int, asked_s: float | None) -> float:
        """How long to wait after the ``try_number``-th refusal: what the provider asked, else doubling."""
        wait = asked_s if asked_s is not None else self.backoff_s * 2 ** (try_number - 1)
        return min(MAX_WAIT_S, max(0.0, wait))


class _Claimed(Exception):
    def __init__(self, outcome: PlaceOutcome) -> None:
        self.outcome = outcome


class _DialFailed(Exception):
    """The dial will not go through: the call ends as ``dial_failed`` with this message."""


class _Ambiguous(Exception):
    """The provider may have placed the call without saying so."""


class CallPlacer:
    """Handles dial requests: one ``place`` per delivered request."""

    def __init__(
        self,
        stores: Stores,
        publisher: EventPublisher,
        clients: RestClients,
        urls: DialUrls,
        retry: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        tracer: Tracer | None = None,
        call_control: CallControlPublisher | None = None,
    ) -> None:
        """``call_control``: where the hang-up of a call that ended while it was dialed goes (the transfer
        service carries it out)."""
        self._call_control = call_control
        self._stores = stores
        self._publisher = publisher
        self._clients = clients
        self._urls = urls
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._tracer = tracer or trace.get_tracer(__name__)

    async def place(self, request: DialCall) -> PlaceOutcome:
        found = await self._stores.calls.find(str(request.call_id))
        if found is None:
            return PlaceOutcome.NOT_FOUND
        medium = found.value.medium
        outgoing = medium.outgoing if medium is not None else None
        if medium is None or outgoing is None:
            logger.warning("dial request for call %s, which has no outgoing medium: skipped", request.call_id)
            return PlaceOutcome.NOT_OUTBOUND
        # The dial continues the trace of the request that created the call, as media's call span does.
        with self._tracer.start_as_current_span(
            "dialer.dial",
            context=propagate.extract(found.value.trace_context),
            attributes={"callbridge.call_id": str(request.call_id), "callbridge.attempt": request.attempt},
        ) as span:
            outcome = await self._place(request, medium.provider)
            span.set_attribute("callbridge.dial_outcome", outcome.value)
            return outcome

    async def _place(self, request: DialCall, provider: Provider) -> PlaceOutcome:
        try:
            call = await self._claim(request)
        except _Claimed as claimed:
            logger.info(
                "call %s attempt %d: %s, not dialed", request.call_id, request.attempt, claimed.outcome
            )
            return claimed.outcome
        try:
            result = await self._dial(call, provider, request)
        except _DialFailed as exc:
            await self._fail(call, provider, str(exc), request.attempt)
            return PlaceOutcome.FAILED
        except _Ambiguous as exc:
            logger.warning(
                "call %s: %s did not answer the dial (%s); not sent again: its callbacks or the join "
                "deadline decide the call",
                call.call_id,
                provider_for(provider).display_name,
                exc,
            )
            return PlaceOutcome.AMBIGUOUS
        await self._dialed(call, provider, result, request.attempt)
        return PlaceOutcome.DIALED

    async def _claim(self, request: DialCall) -> Call:
        now = datetime.now(UTC)

        def claim(call: Call) -> Call:
            if call.ended is not None:
                raise _Claimed(PlaceOutcome.ENDED)
            if call.dial_claimed_attempt >= request.attempt:
                raise _Claimed(PlaceOutcome.ALREADY_CLAIMED)
            entry = DialStatusEntry(status=DialStatus.DIALING, provider_status="create-call", at=now)
            steps = [step for step in call.dial_statuses if step.status is not DialStatus.DIALING]
            return call.model_copy(
                update={"dial_claimed_attempt": request.attempt, "dial_statuses": [entry, *steps]}
            )

        return (await self._stores.calls.mutate(str(request.call_id), claim)).value

    async def _dial(self, call: Call, provider: Provider, request: DialCall) -> DialResult:
        account = await self._clients.client(provider)
        name = provider_for(provider).display_name
        if account is None:
            raise _DialFailed(f"no {name} credentials are imported")
        config, client = account
        status_url = self._clients.callback_url(provider, config, self._status_url(call, provider))
        dial = dial_request(call, self._urls, status_url)
        deadline = self._clock() + max(0.0, (call.join_deadline() - datetime.now(UTC)).total_seconds())
        idempotent = provider_for(provider).dial_is_idempotent
        last: ProviderUnavailable | None = None
        try_number = 0
        for try_number in range(1, self._retry.tries + 1):
            try:
                return await self._try(client, dial, provider)
            except ProviderRateLimited as exc:
                kind, asked_s, last = "rate_limited", exc.retry_after_s, exc
            except ProviderUnavailable as exc:
                if exc.status_code is None and not idempotent:
                    raise _Ambiguous(str(exc)) from exc
                kind, asked_s, last = "unavailable", None, exc
            except ProviderAuthError as exc:
                raise _DialFailed(f"{name} refused the imported credentials: {exc}") from exc
            except InvalidDialRequest as exc:
                raise _DialFailed(str(exc)) from exc
            except ProviderApiError as exc:
                raise _DialFailed(f"{name} refused the call: {exc}") from exc
            metrics.DIAL_TRIES.labels(provider.value, kind).inc()
            wait_s = self._retry.wait_s(try_number, asked_s)
            if try_number == self._retry.tries or self._clock() + wait_s >= deadline:
                break
            await self._sleep(wait_s)  # a back-off the provider asked for, bounded by the join deadline
        raise _DialFailed(f"{name} kept refusing the dial ({last}); gave up after {try_number} tries")

    async def _try(self, client: ProviderRestClient, dial: DialRequest, provider: Provider) -> DialResult:
        started = self._clock()
        try:
            return await client.dial(dial)
        finally:
            metrics.DIAL_SECONDS.labels(provider.value).observe(self._clock() - started)

    def _status_url(self, call: Call, provider: Provider) -> str:
        return self._urls.status_callback_url(call.call_id, provider)

    async def _dialed(self, call: Call, provider: Provider, result: DialResult, attempt: int) -> None:
        """Note the provider's call id on the record and in the provider-call index, announce the step, and
        hang the provider call up if the call ended while it was being dialed."""
        details = ProviderDetails(
            provider=provider,
            call_id=result.provider_call_id,
            to=call.medium.outgoing.to if call.medium and call.medium.outgoing else None,
            from_=call.medium.outgoing.from_ if call.medium and call.medium.outgoing else None,
        )

        def note(current: Call) -> Call:
            known = current.provider_details
            if known is not None and known.call_id is not None:
                raise UnchangedError  # a callback was quicker
            return current.model_copy(update={"provider_details": details})

        final = (await self._stores.calls.mutate(str(call.call_id), note)).value
        if result.provider_call_id is not None:
            await self._stores.provider_calls.put(
                provider_call_key(provider, result.provider_call_id),
                ProviderCallLink(call_id=call.call_id, first_seen=datetime.now(UTC)),
            )
        await self._publisher.publish(
            DialStatusChanged(
                call_id=call.call_id,
                status=DialStatus.DIALING,
                provider=provider,
                provider_status="accepted",
                detail=result.provider_call_id or result.provider_request_id,
                attempt=attempt,
            )
        )
        logger.info("call %s dialed through %s: %s", call.call_id, provider.value, result.provider_call_id)
        if final.ended is not None and result.provider_call_id is not None:
            # Its ``ended`` event came before the provider's id was known: nobody else would hang it up.
            if self._call_control is None:
                logger.error(
                    "call %s ended while it was dialed; its %s call is left up", call.call_id, provider
                )
            else:
                await self._call_control.publish(ProviderHangUp.after_end(call.call_id))

    async def _fail(self, call: Call, provider: Provider, detail: str, attempt: int) -> None:
        entry = DialStatusEntry(
            status=DialStatus.FAILED,
            provider_status="dial-refused",
            at=datetime.now(UTC),
            detail=detail[:256],
        )
        _, added = await record_dial_status(self._stores.calls, call.call_id, entry)
        if added:
            await self._publisher.publish(
                DialStatusChanged(
                    call_id=call.call_id,
                    status=DialStatus.FAILED,
                    provider=provider,
                    provider_status="dial-refused",
                    detail=detail,
                    attempt=attempt,
                )
            )
        ended = await finish_call(
            self._stores.calls,
            self._stores.call_listing,
            call.call_id,
            EndReason.DIAL_FAILED,
            detail=detail,
            capacity=self._stores.capacity,
        )
        if ended is not None:
            await self._publisher.publish(ended)
        logger.warning("call %s: dial failed: %s", call.call_id, detail)
