"""Exotel as a ``TelephonyProvider``: a shared secret (Basic Auth or the URL path), answered with JSON."""

from __future__ import annotations

from callbridge.common.models.medium import CallMedium, Provider
from callbridge.common.models.sealing import Decrypt
from callbridge.telephony.credentials import CredentialModels
from callbridge.telephony.exotel import dialing, webhooks
from callbridge.telephony.exotel.credentials import (
    ExotelConfigCreate,
    ExotelConfigPublic,
    ExotelConfigUpdate,
    StoredExotelConfig,
)
from callbridge.telephony.incoming import IncomingCall, StreamPlan
from callbridge.telephony.provider import TelephonyProvider, Verified
from callbridge.telephony.request import ProviderRequest
from callbridge.telephony.rest.client import ProviderRestClient
from callbridge.telephony.settings import TelephonyApiSettings
from callbridge.telephony.status import ProviderStatus


class ExotelProvider(TelephonyProvider[StoredExotelConfig]):
    provider = Provider.EXOTEL
    display_name = "Exotel"
    can_transfer = True
    transfer_closes_stream = True

    def transfer_refusal(self, config: StoredExotelConfig, target: str, *, hold_music: bool) -> str | None:
        """Exotel has no transfer API (reference §4.5): the stream's end moves the flow on to its next
        applet, which connects the caller where the config says the flow connects them."""
        if config.flow_transfer_target is None:
            return (
                "Exotel has no API to transfer a live call: set flowTransferTarget on the Exotel config "
                "when the flow's next applet (a Connect applet) dials that number"
            )
        if target != config.flow_transfer_target:
            return (
                f"the Exotel flow connects callers to {config.flow_transfer_target} only (flowTransferTarget)"
            )
        if hold_music:
            return "holdMusicUrl: the Exotel flow's Connect applet plays its own music"
        return None

    dial_reserved_params = dialing.RESERVED_PARAMS
    dial_ring_timeout_param = dialing.RING_TIMEOUT_PARAM
    credentials = CredentialModels(
        ExotelConfigCreate, ExotelConfigUpdate, ExotelConfigPublic, StoredExotelConfig
    )
    credential_hint = "Authorization: Basic or the webhook secret in the path"
    takes_path_secret = True

    def carries_credentials(self, request: ProviderRequest) -> bool:
        return webhooks.carries_secret(request)

    def verify(
        self, request: ProviderRequest, config: StoredExotelConfig, decrypt: Decrypt, now_s: float
    ) -> Verified:
        webhooks.verify_secret(decrypt(config.webhook_secret_encrypted), request)
        return Verified(replay_key=None)  # a shared secret says nothing about the one request

    def incoming_call(self, request: ProviderRequest, config: StoredExotelConfig) -> IncomingCall:
        return webhooks.incoming_call(request, config)

    def plan_stream(self, config: StoredExotelConfig, template: CallMedium | None) -> StreamPlan:
        return webhooks.plan_stream(config, template)

    def parse_status(self, request: ProviderRequest) -> ProviderStatus:
        return webhooks.parse_status(request)

    def callback_url(self, url: str, config: StoredExotelConfig, decrypt: Decrypt) -> str:
        return webhooks.url_with_secret(url, decrypt(config.webhook_secret_encrypted))

    def rest_client(
        self, config: StoredExotelConfig, decrypt: Decrypt, settings: TelephonyApiSettings
    ) -> ProviderRestClient:
        from callbridge.telephony.exotel.rest import ExotelRestClient

        return ExotelRestClient(
            config,
            decrypt(config.api_token_encrypted),
            api_url=settings.exotel_base_url(config.subdomain),
            timeout_s=settings.provider_api_timeout_s,
        )
