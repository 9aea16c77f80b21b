"""Placing a batch's call: the agent's template filled with the scheduled call's context, created with
the call id the scheduler stored on the attempt, and (for an ``outgoing`` medium) its dial request put on
the dial work queue, exactly as ``POST /api/agents/{agentId}/calls`` would.

Placing an attempt again (a replica took the chunk over) finds the call by its id (the factory answers
CallExistsError, having queued its dial request again if no dialer had claimed it): JetStream drops a
duplicate request within its window, and the dialer claims the attempt on the call record before dialing,
so the callee is dialed once.
"""

from __future__ import annotations

import uuid

from callbridge.common.bus import Stores
from callbridge.common.call_factory import (
    CallExistsError,
    CallFactory,
    CapacityExceededError,
    InvalidCallError,
    merge_agent_call,
)
from callbridge.common.capacity import AccountLimits
from callbridge.common.models.call import AgentCallCreate, CallOrigin
from callbridge.common.models.medium import Provider
from callbridge.common.models.sealing import Encrypt
from callbridge.common.scheduler import PlacedCall, Placement, PlacementDeferred, PlacementError
from callbridge.common.store import CorruptRecordError, NotFoundError
from callbridge.telephony import TelephonyConfigs


def scheduled_call_id(batch_id: uuid.UUID, index: int) -> uuid.UUID:
    """A stable id for a batch's call (the call record's ``origin.scheduledCallId``)."""
    return uuid.uuid5(batch_id, str(index))


class BatchCallPlacer:
    def __init__(
        self,
        stores: Stores,
        factory: CallFactory,
        configs: TelephonyConfigs,
        encrypt: Encrypt,
    ) -> None:
        self._stores = stores
        self._factory = factory
        self._configs = configs
        self._encrypt = encrypt

    async def place(self, placement: Placement) -> PlacedCall:
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
        except CallExistsError:
            # Placed before (by a replica that died, or at this moment by one taking over): the factory
            # queued its dial again if no dialer had claimed it; the claim keeps it to one dial.
            call = (await self._stores.calls.get(str(placement.call_id))).value
            return PlacedCall(call.public(join_url=self._factory.join_url_of(call)))
        except CapacityExceededError as exc:
            raise PlacementDeferred(str(exc)) from None
        except (InvalidCallError, ValueError) as exc:
            raise PlacementError(str(exc)) from None
        return PlacedCall(created.public())

    async def limits_of(self, account: str) -> AccountLimits:
        config = await self._configs.find(Provider(account))
        return AccountLimits() if config is None else config.limits
