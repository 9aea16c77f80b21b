"""The provider account that places an outbound call: its imported config, the capacity limits the config
sets, a check of the call's ``additionalParams`` before anything is stored or dialed (the call factory's
``AccountResolver``), and the account's REST client, kept while its config stays the same."""

from __future__ import annotations

import asyncio

from callbridge.common.call_factory import InvalidCallError, ProviderAccount, account_key
from callbridge.common.models.medium import OutgoingCall, Provider
from callbridge.common.models.sealing import Decrypt
from callbridge.telephony.config_store import TelephonyConfigs
from callbridge.telephony.credentials import StoredTelephonyConfig
from callbridge.telephony.errors import InvalidDialRequest
from callbridge.telephony.registry import provider_for
from callbridge.telephony.rest.client import ProviderRestClient
from callbridge.telephony.settings import TelephonyApiSettings


class ProviderAccounts:
    """Resolves an outbound call's account from the imported provider configs."""

    def __init__(self, configs: TelephonyConfigs) -> None:
        self._configs = configs

    async def resolve(self, provider: Provider, outgoing: OutgoingCall) -> ProviderAccount:
        """The account, or InvalidCallError naming what is missing or refused."""
        plugin = provider_for(provider)
        config = await self._configs.find(provider)
        if config is None:
            raise InvalidCallError(
                f"medium.{provider.value}.outgoing: no {plugin.display_name} credentials are imported; "
                f"import them with POST /api/telephony_configs/{provider.value} to place calls"
            )
        try:
            plugin.check_dial_params(outgoing.additional_params)
        except InvalidDialRequest as exc:
            raise InvalidCallError(f"medium.{provider.value}.outgoing: {exc}") from None
        return ProviderAccount(key=account_key(provider), limits=config.limits)


class RestClients:
    """One REST client per imported provider account, made again when its config changes (a new token)
    and closed with ``aclose``: what a service placing or ending calls keeps for its lifetime."""

    def __init__(self, configs: TelephonyConfigs, decrypt: Decrypt, settings: TelephonyApiSettings) -> None:
        self._configs = configs
        self._decrypt = decrypt
        self._settings = settings
        self._clients: dict[Provider, tuple[int, StoredTelephonyConfig, ProviderRestClient]] = {}
        self._lock = asyncio.Lock()

    async def client(self, provider: Provider) -> tuple[StoredTelephonyConfig, ProviderRestClient] | None:
        """The account's config and client; None when no credentials are imported for ``provider``."""
        found = await self._configs.store(provider).find(provider.value)
        if found is None:
            return None
        async with self._lock:
            cached = self._clients.get(provider)
            if cached is not None and cached[0] == found.revision:
                return cached[1], cached[2]
            client = provider_for(provider).rest_client(found.value, self._decrypt, self._settings)
            self._clients[provider] = (found.revision, found.value, client)
        if cached is not None:
            await cached[2].aclose()
        return found.value, client

    def callback_url(self, provider: Provider, config: StoredTelephonyConfig, url: str) -> str:
        return provider_for(provider).callback_url(url, config, self._decrypt)

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for _, _, client in clients.values():
            await client.aclose()
