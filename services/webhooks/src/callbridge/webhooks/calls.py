"""Creating calls: merge an agent's template with per-call overrides, fill templates, sign the join URL."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from opentelemetry import propagate
from pydantic import ValidationError

from callbridge.common.bus import EventPublisher
from callbridge.common.call_listing import CallListing
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
    CallPublic,
    ProviderDetails,
    SealedCallSettings,
)
from callbridge.common.models.sealing import Encrypt
from callbridge.common.models.supported import outgoing_refusal
from callbridge.common.store import KvStore
from callbridge.common.templating import MissingTemplateVariableError, render
from callbridge.webhooks.admission import Admit
from callbridge.webhooks.errors import InvalidRequestError

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=CallFields)

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
)


def merge_agent_call(agent: Agent, request: AgentCallCreate, encrypt: Encrypt) -> SealedCallSettings:
    """The agent's template with the request's overrides applied and ``{{var}}`` placeholders filled.

    The template's header values are sealed already; an overriding ``agentBackend`` is sealed here."""
    fields = agent.call_template.model_dump(exclude_none=True, exclude={"context_schema"}, by_alias=False)
    settings = SealedCallSettings.model_validate(fields)
    overrides = {
        name: getattr(request, name) for name in _AGENT_CALL_OVERRIDES if getattr(request, name) is not None
    }
    if request.agent_backend is not None:
        overrides["agent_backend"] = request.agent_backend.seal(encrypt)
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
        raise InvalidRequestError(f"templateContext has no value for {{{{{exc.args[0]}}}}}") from exc
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


class CallFactory:
    """Builds, stores and announces new calls."""

    def __init__(
        self,
        calls: KvStore[Call],
        listing: CallListing,
        publisher: EventPublisher,
        signer: JoinTokenSigner,
        media_public_url: str,
    ) -> None:
        self._calls = calls
        self._listing = listing
        self._publisher = publisher
        self._signer = signer
        self._media_public_url = media_public_url

    async def create(
        self,
        settings: SealedCallSettings,
        *,
        agent_id: UUID | None = None,
        template_context: dict[str, Any] | None = None,
        provider_details: ProviderDetails | None = None,
        admit: Admit | None = None,
    ) -> NewCall:
        """Validate, admit (``admit``: a throttle's start; raises TooManyCallsError), store and announce."""
        refusal = outgoing_refusal(settings.medium)
        if refusal is not None:
            raise InvalidRequestError(refusal)
        call_id = new_call_id()
        bind_call(call_id)  # the rest of this request's lines are about the new call
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
        )
        try:
            call = Call.model_validate(fields)
        except ValidationError as exc:  # e.g. a template context mapped from a webhook past its limits
            raise InvalidRequestError(f"the call cannot be stored: {_reasons(exc)}") from exc
        created_event = CallCreated(call_id=call_id, call=call.public())
        self._publisher.check_fits(created_event)  # the record and its announcement each fit one message
        if admit is not None:
            await admit(call_id)
        await self._calls.create(str(call_id), call)
        await self._listing.created(call)
        await self._publisher.publish(created_event)
        logger.info("call %s created (agent %s)", call_id, agent_id)
        return NewCall(call, self.join_url_of(call))

    def join_url_of(self, call: Call) -> str:
        """The call's join URL, signed again: the token depends only on the call id and join deadline."""
        token = self._signer.sign(call.call_id, call.join_deadline())
        return join_url(self._media_public_url, call.call_id, token)
