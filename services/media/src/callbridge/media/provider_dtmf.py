"""``playDtmfSounds`` out of band: the keys through the provider's API (Telnyx ``send_dtmf``, Plivo's DTMF
API), carried out by the transfer service (a ``SendDtmf`` call-control command), for dtmf_tool.py.

A call goes out of band when its provider's plugin says it can send keys (``dtmf_refusal``) and the
provider's credentials are imported (the telephony configs bucket); only what that provider takes is sent
(Telnyx each key's length, when it lies in 0.1-0.5 s; Plivo chooses it itself, and neither takes the space
between keys). The command is published after subscribing to the call's ``dtmf_sent`` events, and its
outcome awaited (at most ``timeout_s``): ``sent`` and the tool is answered; ``failed`` (the provider
refused) or no outcome in time and the keys play in band instead, which the tool's result says.

A command still unanswered is withdrawn before the keys play in band: media claims its ``commandId`` in the
transfer service's claims bucket (``callbridge_call_control``), so a transfer replica taking it late finds it
claimed and does not press the keys a second time. If a replica claimed it first, the keys may be on their
way to the provider: media waits for the outcome once more (``timeout_s``) before playing them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final
from uuid import UUID

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from pydantic import ValidationError

from callbridge.common import subjects
from callbridge.common.call_control import (
    MAX_TONE_S,
    MIN_TONE_S,
    CallControlPublisher,
    CommandClaim,
    SendDtmf,
)
from callbridge.common.call_records import call_provider
from callbridge.common.events import DtmfSent
from callbridge.common.models.call import Call
from callbridge.common.store import ConflictError, KvStore
from callbridge.media.dtmf_tool import OutOfBandResult
from callbridge.telephony import TelephonyConfigs, provider_for

logger = logging.getLogger(__name__)

OUTCOME_TIMEOUT_S: Final = 10.0
"""How long the provider may take to accept the keys (through the transfer service) before they play in
band instead."""
_IN_BAND: Final = OutOfBandResult(sent=False)


class ProviderDtmf:
    """An :class:`~callbridge.media.dtmf_tool.OutOfBandDtmf` through the transfer service."""

    def __init__(
        self,
        connection: Client,
        call_control: CallControlPublisher,
        calls: KvStore[Call],
        configs: TelephonyConfigs,
        claims: KvStore[CommandClaim],
        *,
        timeout_s: float = OUTCOME_TIMEOUT_S,
    ) -> None:
        """``claims``: the transfer service's command claims, where an unanswered command is withdrawn."""
        self._claims = claims
        self._connection = connection
        self._call_control = call_control
        self._calls = calls
        self._configs = configs
        self._timeout_s = timeout_s

    async def send_dtmf(
        self, call_id: UUID, digits: str, *, tone_s: float, space_s: float, invocation_id: str | None = None
    ) -> OutOfBandResult:
        found = await self._calls.find(str(call_id))
        provider = None if found is None else call_provider(found.value)
        if provider is None:
            return _IN_BAND
        plugin = provider_for(provider)
        if plugin.dtmf_refusal(tone_length=False) is not None:
            return _IN_BAND  # Twilio, Exotel: no API for it
        if await self._configs.find(provider) is None:
            logger.info("call %s: no %s credentials are imported: keys in band", call_id, plugin.display_name)
            return _IN_BAND
        tone_duration = None
        if plugin.dtmf_tone_length:
            if not MIN_TONE_S <= tone_s <= MAX_TONE_S:
                logger.info("call %s: toneDuration %g s is outside %s's %g-%g s: keys in band", call_id,
                            tone_s, plugin.display_name, MIN_TONE_S, MAX_TONE_S)  # fmt: skip
                return _IN_BAND
            tone_duration = tone_s
        command = SendDtmf(
            call_id=call_id,
            origin="agent",
            invocation_id=invocation_id,
            digits=digits,
            tone_duration=tone_duration,
        )
        try:
            outcome = await self._outcome(command)
        except NatsError as exc:
            reason = f"they could not be sent out of band ({type(exc).__name__})"
        else:
            if outcome is not None and outcome.outcome == "sent":
                return OutOfBandResult(sent=True)
            reason = (
                f"{plugin.display_name} did not take them out of band within {self._timeout_s:g} s"
                if outcome is None
                else f"{plugin.display_name} refused them out of band: {outcome.detail or 'no reason given'}"
            )
        logger.warning("call %s: keys %s in band: %s", call_id, digits, reason)
        return OutOfBandResult(sent=False, in_band_because=reason)

    async def _outcome(self, command: SendDtmf) -> DtmfSent | None:
        """Publish ``command`` and wait for its ``dtmf_sent`` event; None if none came in time."""
        arrived: asyncio.Future[DtmfSent] = asyncio.get_running_loop().create_future()

        async def on_event(msg: Msg) -> None:
            try:
                event = DtmfSent.model_validate_json(msg.data)
            except ValidationError:
                return
            if event.command_id == command.command_id and not arrived.done():
                arrived.set_result(event)

        subscription = await self._connection.subscribe(
            subjects.call_event(command.call_id, DtmfSent.EVENT), cb=on_event
        )
        try:
            await self._call_control.publish(command)
            await asyncio.wait((arrived,), timeout=self._timeout_s)  # leaves ``arrived`` as it is
            if not arrived.done() and not await self._withdraw(command):
                # A transfer replica has it: the keys may be on their way to the provider.
                await asyncio.wait((arrived,), timeout=self._timeout_s)
            return arrived.result() if arrived.done() else None
        finally:
            await subscription.unsubscribe()

    async def _withdraw(self, command: SendDtmf) -> bool:
        """Claim the command before a transfer replica does, so none carries it out; False if one has."""
        try:
            await self._claims.create(
                str(command.command_id), CommandClaim(command=command.command, body="withdrawn by media")
            )
        except ConflictError:
            return False
        return True
