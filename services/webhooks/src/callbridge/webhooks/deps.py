"""FastAPI dependencies: the service's shared objects (built in the lifespan) and the API key check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from callbridge.common.bus import EventPublisher, Stores
from callbridge.common.call_control import CallControlPublisher, CommandClaim
from callbridge.common.call_factory import CallFactory
from callbridge.common.command_client import MediaCommands
from callbridge.common.secrets import SecretBox
from callbridge.common.store import KvStore
from callbridge.common.warm_transfer import WarmTransferState
from callbridge.telephony import RestClients, TelephonyConfigs
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.replays import ReplayGuard


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a route needs, created once per process in the app's lifespan."""

    settings: WebhooksSettings
    stores: Stores
    configs: TelephonyConfigs
    """The imported provider configs, each read as its provider's model."""
    publisher: EventPublisher
    calls: CallFactory
    secret_box: SecretBox
    replays: ReplayGuard
    media_commands: MediaCommands
    rest_clients: RestClients
    """The imported accounts' REST clients (hanging up a provider call nobody else would)."""
    call_control: CallControlPublisher
    """Where transfers and DTMF go to the transfer service."""
    command_claims: KvStore[CommandClaim]
    """The transfer service's claimed commands: a Plivo transfer's ``<Dial>`` is read from there."""
    warm_transfers: KvStore[WarmTransferState]
    """Warm transfers' states (same bucket): a Plivo join's ``<Conference>`` is served for accepted ones."""


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="callbridge API key")


def require_api_key(request: Request, api_key: Annotated[str | None, Depends(_api_key_header)]) -> None:
    expected: str = request.app.state.settings.api_key.get_secret_value()
    if api_key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header")
    if not hmac.compare_digest(api_key.encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid API key")


ApiKeyDep = Depends(require_api_key)
