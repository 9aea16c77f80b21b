"""The filters of the call listings, as query parameters (described once for the OpenAPI document)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import Query

from callbridge.common.call_listing import CallQuery, CallStatus
from callbridge.common.models.call import EndReason
from callbridge.webhooks.errors import InvalidRequestError

_END_REASON = "Only calls that ended for this reason (newest ended first)."
_STATUS = "``live``: calls that have not ended; ``ended``: calls that have (newest ended first)."
_AFTER = "Only calls created at or after this time (ISO 8601; UTC if no offset is given)."
_BEFORE = "Only calls created before this time (ISO 8601; UTC if no offset is given)."


@dataclass
class AgentCallFilters:
    end_reason: Annotated[EndReason | None, Query(alias="endReason", description=_END_REASON)] = None
    status: Annotated[CallStatus | None, Query(description=_STATUS)] = None
    created_after: Annotated[datetime | None, Query(alias="createdAfter", description=_AFTER)] = None
    created_before: Annotated[datetime | None, Query(alias="createdBefore", description=_BEFORE)] = None

    def query(self, agent_id: UUID | None = None) -> CallQuery:
        try:
            return CallQuery(
                agent_id=agent_id,
                end_reason=self.end_reason,
                status=self.status,
                created_after=_utc(self.created_after),
                created_before=_utc(self.created_before),
            )
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from None


@dataclass
class CallFilters(AgentCallFilters):
    agent_id: Annotated[UUID | None, Query(alias="agentId", description="Only this agent's calls.")] = None

    def query(self, agent_id: UUID | None = None) -> CallQuery:
        return super().query(agent_id or self.agent_id)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
