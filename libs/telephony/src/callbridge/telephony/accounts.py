"""The provider account that places an outbound call: its imported config, the capacity limits the config
sets, and a check of the call's ``additionalParams`` before anything is stored or dialed (the call factory's
``AccountResolver``)."""

from __future__ import annotations

from callbridge.common.call_factory import InvalidCallError, ProviderAccount, account_key
from callbridge.common.models.medium import OutgoingCall, Provider
from callbridge.telephony.config_store import TelephonyConfigs
from callbridge.telephony.errors import InvalidDialRequest
from callbridge.telephony.registry import provider_for


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
