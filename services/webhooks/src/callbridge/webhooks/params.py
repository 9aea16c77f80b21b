"""Path and query parameters the routes share, described once for the OpenAPI document."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Path, Query

from callbridge.common.models.medium import Provider
from callbridge.telephony import PROVIDERS

AgentId = Annotated[UUID, Path(description="The agent's id.")]
CallId = Annotated[UUID, Path(description="The call's id.")]
ProviderName = Annotated[Provider, Path(description=f"The provider: {', '.join(PROVIDERS)}.")]
WebhookSecret = Annotated[
    str,
    Path(description="The provider config's webhookSecret, for a provider that signs nothing (Exotel)."),
]
Cursor = Annotated[
    str | None,
    Query(description="Where the page starts: take it from a page's next or previous URL; none: the first."),
]
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=1000, description="How many per page, 1 to 1000.")]
