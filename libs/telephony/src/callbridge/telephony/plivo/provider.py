"""Plivo as a ``TelephonyProvider``: signed by ``X-Plivo-Signature-V3``, answered with Plivo XML."""

from __future__ import annotations

from callbridge.common.models.medium import CallMedium, Provider
from callbridge.common.models.sealing import Decrypt
from callbridge.telephony.credentials import CredentialModels
from callbridge.telephony.incoming import IncomingCall, StreamPlan
from callbridge.telephony.plivo import dialing, signature, webhooks
from callbridge.telephony.plivo.credentials import (
    PlivoConfigCreate,
    PlivoConfigPublic,
    PlivoConfigUpdate,
    StoredPlivoConfig,
)
from callbridge.telephony.provider import TelephonyProvider, Verified
from callbridge.telephony.request import ProviderRequest
from callbridge.telephony.rest.client import ProviderRestClient
from callbridge.telephony.settings import TelephonyApiSettings
from callbridge.telephony.status import ProviderStatus


class PlivoProvider(TelephonyProvider[StoredPlivoConfig]):
    provider = Provider.PLIVO
    display_name = "Plivo"
    can_transfer = True
    transfer_hold_music = True
    can_send_dtmf = True
    dial_reserved_params = dialing.RESERVED_PARAMS
    dial_ring_timeout_param = dialing.RING_TIMEOUT_PARAM
    credentials = CredentialModels(PlivoConfigCreate, PlivoConfigUpdate, PlivoConfigPublic, StoredPlivoConfig)
    credential_hint = signature.SIGNATURE_HEADER

    def carries_credentials(self, request: ProviderRequest) -> bool:
        return any(header in request.headers for header in signature.CREDENTIAL_HEADERS)

    def verify(
        self, request: ProviderRequest, config: StoredPlivoConfig, decrypt: Decrypt, now_s: float
    ) -> Verified:
        matched = signature.verify_signature(decrypt(config.auth_token_encrypted), request)
        return Verified(replay_key=matched.encode())  # no timestamp: a replay is told only by this

    def incoming_call(self, request: ProviderRequest, config: StoredPlivoConfig) -> IncomingCall:
        return webhooks.incoming_call(request, config)

    def plan_stream(self, config: StoredPlivoConfig, template: CallMedium | None) -> StreamPlan:
        return webhooks.plan_stream(config, template)

    def parse_status(self, request: ProviderRequest) -> ProviderStatus:
        return webhooks.parse_status(request)

    def rest_client(
        self, config: StoredPlivoConfig, decrypt: Decrypt, settings: TelephonyApiSettings
    ) -> ProviderRestClient:
        from callbridge.telephony.plivo.rest import PlivoRestClient

        return PlivoRestClient(
            config.auth_id,
            decrypt(config.auth_token_encrypted),
            api_url=settings.plivo_api_url,
            timeout_s=settings.provider_api_timeout_s,
        )
