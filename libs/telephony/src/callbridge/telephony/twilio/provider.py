"""Twilio as a ``TelephonyProvider``: signed by ``X-Twilio-Signature``, answered with TwiML."""

from __future__ import annotations

from callbridge.common.models.medium import CallMedium, Provider
from callbridge.common.models.sealing import Decrypt
from callbridge.telephony.credentials import CredentialModels
from callbridge.telephony.errors import RequestNotVerified
from callbridge.telephony.incoming import IncomingCall, StreamPlan
from callbridge.telephony.provider import TelephonyProvider, Verified
from callbridge.telephony.request import ProviderRequest
from callbridge.telephony.rest.client import ProviderRestClient
from callbridge.telephony.settings import TelephonyApiSettings
from callbridge.telephony.status import ProviderStatus
from callbridge.telephony.twilio import dialing, webhooks
from callbridge.telephony.twilio.credentials import (
    StoredTwilioConfig,
    TwilioConfigCreate,
    TwilioConfigPublic,
    TwilioConfigUpdate,
)


class TwilioProvider(TelephonyProvider[StoredTwilioConfig]):
    provider = Provider.TWILIO
    display_name = "Twilio"
    can_transfer = True
    dial_reserved_params = dialing.RESERVED_PARAMS
    dial_ring_timeout_param = dialing.RING_TIMEOUT_PARAM
    credentials = CredentialModels(
        TwilioConfigCreate, TwilioConfigUpdate, TwilioConfigPublic, StoredTwilioConfig
    )
    credential_hint = webhooks.SIGNATURE_HEADER

    def carries_credentials(self, request: ProviderRequest) -> bool:
        return webhooks.SIGNATURE_HEADER in request.headers

    def verify(
        self, request: ProviderRequest, config: StoredTwilioConfig, decrypt: Decrypt, now_s: float
    ) -> Verified:
        signature = request.headers.get(webhooks.SIGNATURE_HEADER)
        token = decrypt(config.auth_token_encrypted)
        if not webhooks.verify_signature(token, request.url, request.form, signature):
            raise RequestNotVerified(f"invalid or missing {webhooks.SIGNATURE_HEADER}")
        webhooks.check_account(request, config, required=False)
        # Twilio signs no timestamp or nonce: a retry of a slow answer is the same signature.
        return Verified(replay_key=(signature or "").encode(), replay_on_answer=True)

    def incoming_call(self, request: ProviderRequest, config: StoredTwilioConfig) -> IncomingCall:
        return webhooks.incoming_call(request, config)

    def plan_stream(self, config: StoredTwilioConfig, template: CallMedium | None) -> StreamPlan:
        return webhooks.plan_stream(template)

    def parse_status(self, request: ProviderRequest) -> ProviderStatus:
        return webhooks.parse_status(request)

    def rest_client(
        self, config: StoredTwilioConfig, decrypt: Decrypt, settings: TelephonyApiSettings
    ) -> ProviderRestClient:
        from callbridge.telephony.twilio.rest import TwilioRestClient  # the REST SDK only where it is used

        return TwilioRestClient(
            config.account_sid,
            decrypt(config.auth_token_encrypted),
            api_url=settings.twilio_api_url,
            timeout_s=settings.provider_api_timeout_s,
        )
