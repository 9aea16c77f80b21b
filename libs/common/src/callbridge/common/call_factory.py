"""Creating calls: merge an agent's template with per-call overrides, fill templates, sign the join URL, and
for an outbound call (``medium.<provider>.outgoing``) take a slot of the provider account and ask a dialer
to place it.

Every service that creates calls uses this one factory: the webhooks service (``POST /api/calls``, agent
calls, incoming-call webhooks) and the dialer's scheduler (batches). What the caller must supply that this
library cannot know (which provider accounts exist and their limits: libs/telephony) comes in as an
``AccountResolver``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from nats.errors import Error as NatsError
from opentelemetry import propagate
from pydantic import ValidationError

from callbridge.common.bus import EventPublisher
from callbridge.common.call_listing import CallListing
from callbridge.common.capacity import AccountLimits, CapacityLedger
from callbridge.common.dialing import DialCall, DialPublisher
from callbridge.common.events import CallCreated
from callbridge.common.ids import new_call_id
from callbridge.common.join_tokens import JoinTokenSigner, join_url
from callbridge.common.logs import bind_call
from callbridge.common.models.agent import Agent
from callbridge.common.models.call import (
    DEFAULT_JOIN_TIMEOUT,
    DEFAULT_MAX_DURATION,
    AgentCallCreate,
    Call,
    CallFields,
    CallOrigin,
    CallPublic,
    ProviderDetails,
    SealedCallSettings,
)
from callbridge.common.models.medium import OutgoingCall, Provider
from callbridge.common.models.sealing import Encrypt
from callbridge.common.store import ConflictError, KvStore, StoreError
from callbridge.common.templating import MissingTemplateVariableError, render

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=CallFields)


class CallCreationError(Exception):
    """A call that cannot be created as asked; nothing was stored."""


class InvalidCallError(CallCreationError):
    """The request cannot be carried out as asked (a placeholder without a value, a provider whose
    credentials are not imported, ``additionalParams`` callbridge sets itself): a 422."""


class CallExistsError(CallCreationError):
    """A call with the id the creator chose exists already (it was created before): a 409."""


class CapacityExceededError(CallCreationError):
    """The provider account has no slot for another outbound call now (its ``maxConcurrentCalls`` less
    ``reservedInboundCalls``, or its ``maxCallsPerSecond``): try again after ``retry_after_s``, a 429."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


Admit = Callable[[UUID], Awaitable[None]]
"""Takes what the new call needs besides the account's slot (a throttle's start) or raises."""


@dataclass(frozen=True, slots=True)
class ProviderAccount:
    """The provider account an outbound call is placed through: its capacity ledger key and limits."""

    key: str
    limits: AccountLimits


AccountResolver = Callable[[Provider, OutgoingCall], Awaitable[ProviderAccount]]
"""The account that places ``provider``'s outbound call; raises InvalidCallError when there is none or the
call's ``additionalParams`` cannot be sent (libs/telephony's ``ProviderAccounts.resolve``)."""


def account_key(provider: Provider) -> str:
    """The capacity ledger's key of a provider's account: one imported account per provider."""
    return provider.value


# Fields of an agent call request that override the agent's template (Ultravox §2.2).
_AGENT_CALL_OVERRIDES = (
    "initial_messages",
    "metadata",
    "medium",
    "join_timeout",
    "max_duration",
    "recording_enabled",
    "first_speaker_settings",
    "voice",
    "agent_backend",
    "callbacks",
)


def merge_agent_call(agent: Agent, request: AgentCallCreate, encrypt: Encrypt) -> SealedCallSettings:
    """The agent's template with the request's overrides applied and ``{{var}}`` placeholders filled.

    The template's header values and callback secrets are sealed already; an overriding ``agentBackend``
    or ``callbacks`` is sealed here."""
    fields = agent.call_template.model_dump(exclude_none=True, exclude={"context_schema"}, by_alias=False)
    settings = SealedCallSettings.model_validate(fields)
    overrides = {
        name: getattr(request, name) for name in _AGENT_CALL_OVERRIDES if getattr(request, name) is not None
    }
    if request.agent_backend is not None:
        overrides["agent_backend"] = request.agent_backend.seal(encrypt)
    if request.callbacks is not None:
        overrides["callbacks"] = request.callbacks.seal(encrypt)
    settings = settings.model_copy(update=overrides)
    return fill_templates(settings, request.template_context)


def fill_templates(settings: S, context: dict[str, Any]) -> S:
    """Render ``{{var}}`` in the fields Ultravox templates: systemPrompt, languageHint,
    timeExceededMessage and each inactivity message."""
    try:
        update: dict[str, Any] = {}
        if settings.system_prompt is not None:
            update["system_prompt"] = render(settings.system_prompt, context)
        if settings.language_hint is not None:
            update["language_hint"] = render(settings.language_hint, context)
        if settings.time_exceeded_message is not None:
            update["time_exceeded_message"] = render(settings.time_exceeded_message, context)
        if settings.inactivity_messages:
            update["inactivity_messages"] = [
                message.model_copy(update={"message": render(message.message, context)})
                for message in settings.inactivity_messages
            ]
    except MissingTemplateVariableError as exc:
        raise InvalidCallError(f"templateContext has no value for {{{{{exc.args[0]}}}}}") from exc
    return settings.model_copy(update=update)


def _reasons(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))


def current_trace_context() -> dict[str, str]:
    """The active span's W3C ``traceparent`` (empty outside a trace), for media to continue."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@dataclass(frozen=True, slots=True)
class NewCall:
    """A call just created, with its join URL: the URL is returned to the creating request only and is
    neither stored nor published."""

    call: Call
    join_url: str

    def public(self) -> CallPublic:
        return self.call.public(join_url=self.join_url)


@dataclass(frozen=True, slots=True)
class Outbound:
    """What placing calls needs; a factory without it refuses ``outgoing`` with a 422."""

    accounts: AccountResolver
    dials: DialPublisher


class CallFactory:
    """Builds, stores and announces new calls; outbound ones take an account slot and are sent to a dialer."""

    def __init__(
        self,
        calls: KvStore[Call],
        listing: CallListing,
        publisher: EventPublisher,
        signer: JoinTokenSigner,
        media_public_url: str,
        *,
        capacity: CapacityLedger | None = None,
        outbound: Outbound | None = None,
    ) -> None:
        """``capacity``: the account ledgers (None: no slot is taken or held, for tools and tests that place
        no calls); ``outbound``: how outgoing calls are resolved and dialed."""
        self._calls = calls
        self._listing = listing
        self._publisher = publisher
        self._signer = signer
        self._media_public_url = media_public_url
        self._capacity = capacity
        self._outbound = outbound

    async def create(
        self,
        settings: SealedCallSettings,
        *,
        agent_id: UUID | None = None,
        template_context: dict[str, Any] | None = None,
        provider_details: ProviderDetails | None = None,
        admit: Admit | None = None,
        origin: CallOrigin | None = None,
        call_id: UUID | None = None,
        transfer_of: UUID | None = None,
    ) -> NewCall:
        """Validate, admit, store and announce; for ``medium.<provider>.outgoing``, also ask a dialer to
        place it.

        ``admit`` (a throttle's start) raises its own error to refuse; the account's capacity raises
        CapacityExceededError; anything the request asks that cannot be done raises InvalidCallError.
        ``provider_details``: the provider call this call answers (an incoming call, which holds a slot of
        its account until it ends). ``origin``: the batch call it is placed for, stored on the record.
        ``call_id``: an id the creator chose, so that creating the same call twice (a scheduler's retry
        after a crash) makes one call: CallExistsError, nothing taken, when a call has it already; if that
        call is outbound and no dialer has claimed it yet, its dial request is queued again (the creator
        may have died before queuing it; the claim keeps it from being dialed twice). ``transfer_of``: the
        first call of the warm transfer this call is the second leg of."""
        medium = settings.medium
        outgoing = medium.outgoing if medium is not None else None
        account = None
        if medium is not None and outgoing is not None:
            account = await self._account_of(medium.provider, outgoing)
        if call_id is None:
            call_id = new_call_id()
        elif await self._calls.exists(str(call_id)):
            await self._queue_undialed(call_id)
            raise CallExistsError(f"call {call_id} exists already")
        bind_call(call_id)  # the rest of this task's lines are about the new call
        created = datetime.now(UTC)
        join_timeout = settings.join_timeout or DEFAULT_JOIN_TIMEOUT
        fields = settings.model_dump(exclude_none=True, by_alias=False)
        fields.update(
            call_id=call_id,
            agent_id=agent_id,
            created=created,
            join_timeout=join_timeout,
            max_duration=settings.max_duration or DEFAULT_MAX_DURATION,
            template_context=template_context or {},
            provider_details=provider_details,
            trace_context=current_trace_context(),
            origin=origin,
            transfer_of=transfer_of,
        )
        if outgoing is not None:
            fields["direction"] = "outbound"
        try:
            call = Call.model_validate(fields)
        except ValidationError as exc:  # e.g. a template context mapped from a webhook past its limits
            raise InvalidCallError(f"the call cannot be stored: {_reasons(exc)}") from exc
        created_event = CallCreated(call_id=call_id, call=call.public())
        self._publisher.check_fits(created_event)  # the record and its announcement each fit one message
        await self._store(call, account, admit)
        await self._publisher.publish(created_event)
        if account is not None and self._outbound is not None:
            await self._outbound.dials.publish(DialCall(call_id=call_id, attempt=1))
            logger.info("call %s created (agent %s), outbound: dial requested", call_id, agent_id)
        else:
            if provider_details is not None and self._capacity is not None:
                await self._hold_inbound(provider_details, call_id)
            logger.info("call %s created (agent %s)", call_id, agent_id)
        return NewCall(call, self.join_url_of(call))

    def join_url_of(self, call: Call) -> str:
        """The call's join URL, signed again: the token depends only on the call id and join deadline."""
        token = self._signer.sign(call.call_id, call.join_deadline())
        return join_url(self._media_public_url, call.call_id, token)

    async def _queue_undialed(self, call_id: UUID) -> None:
        found = await self._calls.find(str(call_id))
        if found is None or self._outbound is None:
            return
        call = found.value
        if call.direction == "outbound" and call.ended is None and call.dial_claimed_attempt == 0:
            await self._outbound.dials.publish(DialCall(call_id=call_id, attempt=1))

    async def _hold_inbound(self, details: ProviderDetails, call_id: UUID) -> None:
        """Count the incoming call against its account's lines. A failure here must not fail a call the
        provider has already taken: it is logged, and the account counts one line less until the call
        ends (releasing an untaken slot is a no-op)."""
        assert self._capacity is not None  # checked by the caller
        try:
            await self._capacity.hold_inbound(account_key(details.provider), call_id)
        except (StoreError, NatsError) as exc:
            logger.error(
                "call %s: not counted against the %s account's lines: %s", call_id, details.provider, exc
            )

    async def _account_of(self, provider: Provider, outgoing: OutgoingCall) -> ProviderAccount:
        if self._outbound is None:
            raise InvalidCallError(
                f"medium.{provider.value}.outgoing: this service does not place calls; place the call "
                "yourself and point its media stream at the returned joinUrl"
            )
        return await self._outbound.accounts(provider, outgoing)

    async def _store(self, call: Call, account: ProviderAccount | None, admit: Admit | None) -> None:
        """Take the account's slot, then what ``admit`` takes, then store; a refusal or failure after the
        slot was taken gives it back, so nothing holds a slot for a call that does not exist."""
        holds_slot = False
        try:
            if account is not None and self._capacity is not None:
                admission = await self._capacity.admit_outbound(account.key, account.limits, [call.call_id])
                if not admission.admitted:
                    wait_s = admission.retry_after_s or 1.0
                    raise CapacityExceededError(
                        f"the {account.key} account has no room for another outbound call now "
                        f"({admission.reason}); try again in {wait_s:.1f} s",
                        wait_s,
                    )
                holds_slot = True
            if admit is not None:
                await admit(call.call_id)
            try:
                await self._calls.create(str(call.call_id), call)
            except ConflictError:
                holds_slot = False  # the slot is the existing call's, which has the same id
                raise CallExistsError(f"call {call.call_id} exists already") from None
            await self._listing.created(call)
        except BaseException:
            if holds_slot and account is not None and self._capacity is not None:
                await self._capacity.release(account.key, [call.call_id])
            raise
