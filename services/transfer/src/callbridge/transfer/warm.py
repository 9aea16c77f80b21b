"""The provider side of a warm transfer (see callbridge.common.warm_transfer for the whole flow).

``start`` places the human's leg: an outbound callbridge call on the same provider account, with the caller's
agent backend, the rendered prompt as its system prompt, the agent speaking first, ``acceptTransfer`` and
``declineTransfer`` among its tools, and a join timeout that makes the dial's ring timeout the tool's
``ringTimeout``. ``decide`` moves the transfer's state to ``decided`` by compare-and-set (the first decision
wins) and then joins the two calls at the provider (accepted) or hangs the leg up and gives the caller back to
the agent with the reason. The leg's settings and what a call's end decides are in warm_leg.py.
"""

from __future__ import annotations

import logging
from typing import Literal
from uuid import UUID

from callbridge.common.bus import EventPublisher, Stores
from callbridge.common.call_factory import CallCreationError, CallFactory
from callbridge.common.call_records import call_provider, finish_call
from callbridge.common.command_client import CallNotHeldError, CommandError, MediaCommands
from callbridge.common.commands import (
    CallCommand,
    CommandAccepted,
    HangUpCall,
    TransferHandOff,
    WarmTransferUpdate,
)
from callbridge.common.events import CallTransferred
from callbridge.common.ids import new_call_id
from callbridge.common.models.call import Call, EndReason
from callbridge.common.models.medium import Provider
from callbridge.common.store import ConflictError, KvStore
from callbridge.common.warm_transfer import (
    Decision,
    WarmTransfer,
    WarmTransferDecided,
    WarmTransferState,
    conference_room,
    plivo_conference_path,
    state_key,
)
from callbridge.telephony import JoinRequest, ProviderApiError, RestClients, UnsupportedByProvider
from callbridge.transfer.warm_leg import WarmRefused, leg_settings

logger = logging.getLogger(__name__)


class WarmTransfers:
    def __init__(
        self,
        stores: Stores,
        states: KvStore[WarmTransferState],
        publisher: EventPublisher,
        clients: RestClients,
        media: MediaCommands,
        factory: CallFactory,
        public_base_url: str,
    ) -> None:
        self._stores = stores
        self._calls = stores.calls
        self._states = states
        self._publisher = publisher
        self._clients = clients
        self._media = media
        self._factory = factory
        self._public_base_url = public_base_url

    async def start(self, call: Call, command: WarmTransfer) -> bool:
        """Place the leg; False (the caller given back to the agent) when it cannot be."""
        provider = call_provider(call)
        try:
            if call.ended is not None:
                raise WarmRefused(f"the call has ended ({call.end_reason})")
            if provider is None:
                raise WarmRefused("the call has no provider")
            account = await self._clients.client(provider)
            if account is None:
                raise WarmRefused(f"no {provider.value} credentials are imported: a warm transfer needs them")
            if not account[1].can_join:
                raise WarmRefused(f"{provider.value} has no API to connect two calls")
            settings = leg_settings(call, command, provider)
            leg = new_call_id()  # chosen first: the state names the leg before it can ring, let alone end
            state = WarmTransferState(
                call_id=call.call_id,
                leg_call_id=leg,
                target=command.target,
                invocation_id=command.invocation_id,
            )
            await self._begin(state)
            try:
                await self._factory.create(
                    settings, agent_id=call.agent_id, transfer_of=call.call_id, call_id=leg
                )
            except CallCreationError:
                await self._states.delete(state_key(call.call_id))  # nothing rings: the agent may try again
                raise
        except (WarmRefused, CallCreationError) as exc:
            await self._give_back(call.call_id, command.target, "failed", str(exc))
            await self._announce(
                call.call_id, command, "returned", provider, reason="failed", detail=str(exc)
            )
            logger.warning("call %s: warm transfer to %s failed: %s", call.call_id, command.target, exc)
            return False
        await self._announce(call.call_id, command, "dialing", provider, leg_call_id=leg)
        logger.info("call %s: warm transfer: calling %s (call %s)", call.call_id, command.target, leg)
        return True

    async def _begin(self, state: WarmTransferState) -> None:
        """Record the transfer under way; WarmRefused while another one is (a declined one may be followed
        by another: the agent tries someone else)."""
        key = state_key(state.call_id)
        found = await self._states.find(key)
        try:
            if found is None:
                await self._states.create(key, state)
            elif found.value.phase == "decided" and found.value.decision != "accepted":
                await self._states.update(key, state, found.revision)
            else:
                raise WarmRefused("a warm transfer of this call is under way")
        except ConflictError:
            raise WarmRefused("a warm transfer of this call is under way") from None

    async def decide(self, command: WarmTransferDecided) -> bool:
        """Carry the first decision out; False when the transfer was decided before (or is unknown)."""
        key = state_key(command.call_id)
        found = await self._states.find(key)
        if found is None or found.value.phase == "decided":
            return False
        state = found.value
        if command.leg_call_id is not None and command.leg_call_id != state.leg_call_id:
            return False  # about an earlier transfer's human: this one goes on
        try:
            await self._states.update(
                key,
                state.model_copy(update={"phase": "decided", "decision": command.decision}),
                found.revision,
            )
        except ConflictError:
            return False  # another decision came first
        first = await self._calls.find(str(command.call_id))
        leg = None if state.leg_call_id is None else await self._calls.find(str(state.leg_call_id))
        if first is None:
            return False
        provider = call_provider(first.value)
        if command.decision == "accepted" and leg is not None:
            problem = await self._join(first.value, leg.value, state)
            if problem is None:
                await self._announce(first.value.call_id, command, "transferred", provider, state=state)
                logger.info("call %s: warm transfer accepted: joined to %s", command.call_id, state.target)
                return True
            decision: Decision = "failed"
            detail: str | None = problem
        else:
            decision, detail = command.decision, command.detail
            if decision == "accepted":
                decision, detail = "failed", "the human's call is not known"
        if leg is not None:
            await self._end_leg(leg.value, decision)
        if decision != "caller_left":
            await self._give_back(first.value.call_id, state.target, decision, detail)
        await self._announce(
            first.value.call_id,
            command,
            "returned" if decision != "caller_left" else "failed",
            provider,
            state=state,
            reason=decision,
            detail=detail,
        )
        logger.info("call %s: warm transfer to %s ended: %s", command.call_id, state.target, decision)
        return True

    async def _join(self, first: Call, leg: Call, state: WarmTransferState) -> str | None:
        """Hand both calls off and have the provider join them; why not, or None once joined."""
        provider = call_provider(first)
        first_id = first.provider_details.call_id if first.provider_details else None
        leg_id = leg.provider_details.call_id if leg.provider_details else None
        if provider is None or first_id is None or leg_id is None:
            return "a call's provider id is not known: it has not been answered"
        account = await self._clients.client(provider)
        if account is None:
            return f"no {provider.value} credentials are imported"
        if not await self._tell(leg.call_id, TransferHandOff(target=f"the caller of call {first.call_id}")):
            return "the human's call could not be handed off"
        if not await self._tell(first.call_id, WarmTransferUpdate(phase="connect", target=state.target)):
            await self._tell(leg.call_id, TransferHandOff(phase="abort", target="-", detail="join failed"))
            return "the caller's call could not be handed off"
        xml_url = f"{self._public_base_url.rstrip('/')}{plivo_conference_path(first.call_id)}"
        request = JoinRequest(
            first_call_id=first_id,
            second_call_id=leg_id,
            room=conference_room(first.call_id),
            xml_urls=(xml_url, xml_url),
        )
        try:
            await account[1].join(request)
        except (ProviderApiError, UnsupportedByProvider) as exc:
            await self._tell(leg.call_id, TransferHandOff(phase="abort", target="-", detail="join failed"))
            return f"{provider.value} refused to join the calls: {exc}"
        return None

    async def _end_leg(self, leg: Call, decision: Decision) -> None:
        """Hang the human's call up: through its media replica when it streams; while it rings, it ends as
        ``canceled`` (as ``POST …/hang_up`` does), and its ``ended`` event has the provider's call hung up
        (the transfer service's or the dialer's ``ProviderHangUp``); else at the provider."""
        if leg.ended is not None:
            return
        detail = f"warm transfer ended: {decision}"
        try:
            await self._media.send(leg.call_id, HangUpCall(detail=detail))
            return
        except CallNotHeldError:
            if leg.joined is None and await self._cancel(leg.call_id, detail):
                return
        except CommandError as exc:
            logger.warning(
                "call %s: the leg's media replica: %s; hanging up at the provider", leg.call_id, exc
            )
        provider = call_provider(leg)
        details = leg.provider_details
        account = None if provider is None else await self._clients.client(provider)
        if account is None or details is None or details.call_id is None:
            logger.warning(
                "call %s: the ringing leg cannot be hung up: its provider id is unknown", leg.call_id
            )
            return
        try:
            await account[1].hang_up(details.call_id)
        except ProviderApiError as exc:
            logger.warning("call %s: hanging up the leg failed: %s", leg.call_id, exc)

    async def _cancel(self, call_id: UUID, detail: str) -> bool:
        """End a leg nobody joined as ``canceled``; False if it was joined (or ended) meanwhile."""
        stores = self._stores
        ended = await finish_call(
            stores.calls,
            stores.call_listing,
            call_id,
            EndReason.CANCELED,
            detail=detail,
            unless_joined=True,
            capacity=stores.capacity,
        )
        if ended is None:
            return False
        await self._publisher.publish(ended)
        return True

    async def _give_back(self, call_id: UUID, target: str, reason: str, detail: str | None) -> None:
        update = WarmTransferUpdate(
            phase="return", target=target, reason=reason, detail=None if detail is None else detail[:200]
        )
        await self._tell(call_id, update)

    async def _tell(self, call_id: UUID, command: CallCommand) -> bool:
        try:
            reply = await self._media.send(call_id, command)
        except CommandError as exc:
            logger.warning("call %s: %s not delivered: %s", call_id, command.command, exc)
            return False
        return isinstance(reply, CommandAccepted)

    async def _announce(
        self,
        call_id: UUID,
        command: WarmTransfer | WarmTransferDecided,
        outcome: Literal["transferred", "failed", "dialing", "returned"],
        provider: Provider | None,
        *,
        state: WarmTransferState | None = None,
        leg_call_id: UUID | None = None,
        reason: str | None = None,
        detail: str | None = None,
    ) -> None:
        target = command.target if isinstance(command, WarmTransfer) else (state.target if state else "")
        await self._publisher.publish(
            CallTransferred(
                call_id=call_id,
                command_id=command.command_id,
                outcome=outcome,
                target=target,
                provider=provider,
                origin=command.origin,
                detail=None if detail is None else detail[:500],
                kind="warm",
                reason=reason,
                leg_call_id=leg_call_id or (state.leg_call_id if state else None),
            )
        )
