"""Verifying a provider's request with that provider's imported credentials, before anything is written."""

from __future__ import annotations

import logging
import time
from typing import TypeVar

from callbridge.common.models.medium import Provider
from callbridge.common.models.telephony import StoredProviderConfig, StoredTelephonyConfig
from callbridge.common.secrets import SecretDecryptionError
from callbridge.common.store import KvStore
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.webhooks import exotel, plivo, telnyx, twilio
from callbridge.webhooks.deps import Services
from callbridge.webhooks.detection import PROVIDER_NAMES
from callbridge.webhooks.errors import ForbiddenError, VerificationError
from callbridge.webhooks.provider_request import ProviderRequest
from callbridge.webhooks.redaction import redact_secret_paths

C = TypeVar("C", bound=StoredTelephonyConfig)

logger = logging.getLogger(__name__)


async def verify_provider_request(
    services: Services, provider: Provider, request: ProviderRequest
) -> StoredProviderConfig:
    """The provider's config, once the request's signature (or Exotel's secret) checks out against it.

    Telnyx and Plivo signatures are also checked for replays. Failures raise VerificationError (403)
    naming what was wrong, never the secret.
    """
    configs = services.stores.telephony_configs
    decrypt = services.secret_box.decrypt
    config: StoredProviderConfig
    try:
        match provider:
            case Provider.TWILIO:
                config = twilio_config = await _load(configs.twilio, provider)
                signature = request.headers.get(twilio.SIGNATURE_HEADER)
                token = decrypt(twilio_config.auth_token_encrypted)
                if not twilio.verify_signature(token, request.url, request.form, signature):
                    raise VerificationError(f"invalid or missing {twilio.SIGNATURE_HEADER}")
            case Provider.TELNYX:
                config = telnyx_config = await _load(configs.telnyx, provider)
                public_key = decrypt(telnyx_config.public_key_encrypted)
                verified = telnyx.verify_signature(public_key, request.body, request.headers, time.time())
                await services.replays.first_use(provider, verified)
            case Provider.PLIVO:
                config = plivo_config = await _load(configs.plivo, provider)
                matched = plivo.verify_signature(decrypt(plivo_config.auth_token_encrypted), request)
                await services.replays.first_use(provider, matched.encode())
            case Provider.EXOTEL:
                config = exotel_config = await _load(configs.exotel, provider)
                exotel.verify_secret(decrypt(exotel_config.webhook_secret_encrypted), request)
    except SecretDecryptionError:
        logger.error(
            "stored %s credentials do not decrypt: was CALLBRIDGE_SECRET_KEY changed?", provider.value
        )
        raise ForbiddenError("cannot verify the request: stored credentials are unreadable") from None
    except VerificationError as exc:
        logger.warning("refused %s request to %s: %s", provider.value, redact_secret_paths(request.url), exc)
        raise
    return config


async def record_answered_signature(services: Services, provider: Provider, request: ProviderRequest) -> None:
    """Record the signature of a request that is about to create a call; VerificationError if it did so
    before (a replay).

    Twilio's signature is recorded here rather than when it is verified: Twilio signs no timestamp or
    nonce, so its retry of a slow answer carries the very same signature, and must get the same call back
    while that call is unanswered (see provider_calls.py). Telnyx and Plivo signatures were recorded
    during verification; Exotel signs nothing.
    """
    if provider is Provider.TWILIO:
        signature = request.headers.get(twilio.SIGNATURE_HEADER, "")
        await services.replays.first_use(provider, signature.encode())


async def _load(store: KvStore[C], provider: Provider) -> C:
    try:
        return (await store.get(provider.value)).value
    except StoreNotFoundError:
        raise ForbiddenError(
            f"no {PROVIDER_NAMES[provider]} credentials imported: cannot verify the request"
        ) from None
