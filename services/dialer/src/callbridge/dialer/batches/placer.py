"""Placing a batch's call: the agent's template filled with the scheduled call's context, created with
the call id the scheduler stored on the attempt, and (for an ``outgoing`` medium) its dial request put on
the dial work queue, exactly as ``POST /api/agents/{agentId}/calls`` would.

Placing an attempt again (a replica took the chunk over) finds the call by its id and only publishes its
dial request again: JetStream drops the duplicate within its window, and the dialer claims the attempt on
the call record before dialing, so the callee is dialed once.
"""

from __future__ import annotations

import uuid

from callbridge.common.bus import Stores
from callbridge.common.call_factory import (
    CallFactory,
    CapacityExceededError,
    InvalidCallError,
    account_key,
    merge_agent_call,
)
from callbridge.common.capacity import AccountLimits
from callbridge.common.dialing import DialCall, DialPublisher
from callbridge.common.models.call import AgentCallCreate, Call, CallOrigin
from callbridge.common.models.medium import Provider
from callbridge.common.models.sealing import Encrypt
from callbridge.common.scheduler import PlacedCall, Placement, PlacementDeferred, PlacementError
from callbridge.common.store import ConflictError, CorruptRecordError, NotFoundError
from callbridge.telephony import TelephonyConfigs


def scheduled_call_id(batch_id: uuid.UUID, index: int) -> uuid.UUID:
    """A stable id for a batch's call (the call record's ``origin.scheduledCallId``)."""
    return uuid.uuid5(batch_id, str(index))


class BatchCallPlacer:
    def __init__(
        self,
        stores: Stores,
        factory: CallFactory,
        dials: DialPublisher,
        configs: TelephonyConfigs,
        encrypt: Encrypt,
    ) -> None:
        self._stores = stores
        self._factory = factory
        self._dials = dials
        self._configs = configs
        self._encrypt = encrypt

    async def place(self, placement: Placement) -> PlacedCall:
        existing = await self._stores.calls.find(str(placement.call_id))
        if existing is not None:
            return await self._again(existing.value)
        batch, scheduled = placement.batch, placement.call
        try:
            agent = (await self._stores.agents.get(str(batch.agent_id))).value
        except (NotFoundError, CorruptRecordError):
            raise PlacementError(f"agent {batch.agent_id} cannot be read (deleted?)") from None
        try:
            request = AgentCallCreate(
                template_context=scheduled.template_context,
                metadata=scheduled.metadata,
                medium=scheduled.medium,
            )
            settings = merge_agent_call(agent, request, self._encrypt)
            created = await self._factory.create(
                settings,
                agent_id=batch.agent_id,
                template_context=scheduled.template_context,
                origin=CallOrigin(
                    batch_id=batch.batch_id,
                    scheduled_call_id=scheduled_call_id(batch.batch_id, scheduled.index),
                    attempt=placement.attempt,
                ),
                call_id=placement.call_id,
            )
        except CapacityExceededError as exc:
            raise PlacementDeferred(str(exc)) from None
        except (InvalidCallError, ValueError) as exc:
            raise PlacementError(str(exc)) from None
        except ConflictError:  # placed at the same moment by a replica taking over: it is there now
            found = await self._stores.calls.get(str(placement.call_id))
            await self._hold_slot(found.value)  # the factory gave back the slot the call still needs
            return await self._again(found.value)
        return PlacedCall(created.public())

    async def _again(self, call: Call) -> PlacedCall:
        if call.direction == "outbound" and call.ended is None:
            await self._dials.publish(DialCall(call_id=call.call_id, attempt=1))
        return PlacedCall(call.public(join_url=self._factory.join_url_of(call)))

    async def _hold_slot(self, call: Call) -> None:
        if call.direction != "outbound" or call.ended is not None or call.medium is None:
            return
        await self._stores.capacity.admit_outbound(
            account_key(call.medium.provider),
            await self.limits_of(call.medium.provider.value),
            [call.call_id],
        )

    async def limits_of(self, account: str) -> AccountLimits:
        config = await self._configs.find(Provider(account))
        return AccountLimits() if config is None else config.limits
