"""Telnyx as a ``TelephonyProvider``: signed with ed25519, answered with TeXML, status callbacks as forms or
Call Control JSON."""

from __future__ import annotations

from callbridge.common.models.medium import CallMedium, Provider
from callbridge.common.models.sealing import Decrypt
from callbridge.telephony.credentials import CredentialModels
from callbridge.telephony.incoming import IncomingCall, StreamPlan
from callbridge.telephony.provider import TelephonyProvider, Verified
from callbridge.telephony.request import ProviderRequest
from callbridge.telephony.rest.client import ProviderRestClient
from callbridge.telephony.settings import TelephonyApiSettings
from callbridge.telephony.status import ProviderStatus
from callbridge.telephony.telnyx import dialing, signature, webhooks
from callbridge.telephony.telnyx.credentials import (
    StoredTelnyxConfig,
    TelnyxConfigCreate,
    TelnyxConfigPublic,
    TelnyxConfigUpdate,
)


class TelnyxProvider(TelephonyProvider[StoredTelnyxConfig]):
    provider = Provider.TELNYX
    display_name = "Telnyx"
    can_transfer = True
    can_send_dtmf = True
    dtmf_tone_length = True
    dial_is_idempotent = True  # command_id is the call id (dialing.py)
    dial_reserved_params = dialing.RESERVED_PARAMS
    dial_ring_timeout_param = dialing.RING_TIMEOUT_PARAM
    credentials = CredentialModels(
        TelnyxConfigCreate, TelnyxConfigUpdate, TelnyxConfigPublic, StoredTelnyxConfig
    )
    credential_hint = f"{signature.SIGNATURE_HEADER} (or {signature.STANDARD_SIGNATURE_HEADER})"
    status_accepts_json = True

    def carries_credentials(self, request: ProviderRequest) -> bool:
        return any(header in request.headers for header in signature.CREDENTIAL_HEADERS)

    def verify(
        self, request: ProviderRequest, config: StoredTelnyxConfig, decrypt: Decrypt, now_s: float
    ) -> Verified:
        public_key = decrypt(config.public_key_encrypted)
        verified = signature.verify_signature(public_key, request.body, request.headers, now_s)
        return Verified(replay_key=verified)

    def incoming_call(self, request: ProviderRequest, config: StoredTelnyxConfig) -> IncomingCall:
        return webhooks.incoming_call(request, config)

    def plan_stream(self, config: StoredTelnyxConfig, template: CallMedium | None) -> StreamPlan:
        return webhooks.plan_stream(config, template)

    def parse_status(self, request: ProviderRequest) -> ProviderStatus:
        return webhooks.parse_status(request)

    def rest_client(
        self, config: StoredTelnyxConfig, decrypt: Decrypt, settings: TelephonyApiSettings
    ) -> ProviderRestClient:
        from callbridge.telephony.telnyx.rest import TelnyxRestClient  # the SDK takes ~2 s to import

        return TelnyxRestClient(
            decrypt(config.api_key_encrypted),
            config,
            api_url=settings.telnyx_api_url,
            timeout_s=settings.provider_api_timeout_s,
        )
