"""Verifying a provider's request with that provider's imported credentials, before anything is written."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from callbridge.common.models.medium import Provider
from callbridge.common.secrets import SecretDecryptionError
from callbridge.telephony import RequestNotVerified, StoredTelephonyConfig, TelephonyProvider, Verified
from callbridge.telephony.request import ProviderRequest
from callbridge.webhooks.deps import Services
from callbridge.webhooks.errors import ForbiddenError
from callbridge.webhooks.redaction import redact_secret_paths

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    config: StoredTelephonyConfig
    """The provider's stored config (the provider's own model) that verified the request."""
    verified: Verified


async def verify_provider_request(
    services: Services, plugin: TelephonyProvider[Any], request: ProviderRequest
) -> VerifiedRequest:
    """The provider's config, once the request's signature (or Exotel's secret) checks out against it.

    A signature that identifies the request (Telnyx, Plivo) is recorded at once: the same request again is
    a replay. Failures raise ``RequestNotVerified`` (403) naming what was wrong, never the secret.
    """
    provider = plugin.provider
    try:
        config = await services.configs.find(provider)
        if config is None:
            raise RequestNotVerified(
                f"no {plugin.display_name} credentials imported: cannot verify the request"
            )
        verified = plugin.verify(request, config, services.secret_box.decrypt, time.time())
        if verified.replay_key is not None and not verified.replay_on_answer:
            await services.replays.first_use(provider, verified.replay_key)
    except SecretDecryptionError:
        logger.error(
            "stored %s credentials do not decrypt: was CALLBRIDGE_SECRET_KEY changed?", provider.value
        )
        raise ForbiddenError("cannot verify the request: stored credentials are unreadable") from None
    except RequestNotVerified as exc:
        logger.warning("refused %s request to %s: %s", provider.value, redact_secret_paths(request.url), exc)
        raise
    return VerifiedRequest(config, verified)


async def record_answered_signature(services: Services, provider: Provider, verified: Verified) -> None:
    """Record the signature of a request that is about to create a call; ``RequestNotVerified`` if it did
    so before (a replay).

    For Twilio, whose signature is recorded here rather than when it is verified: its retry of a slow
    answer carries the very same signature, and must get the same call back while that call is unanswered
    (see provider_calls.py). Others' signatures were recorded during verification; Exotel signs nothing.
    """
    if verified.replay_key is not None and verified.replay_on_answer:
        await services.replays.first_use(provider, verified.replay_key)
