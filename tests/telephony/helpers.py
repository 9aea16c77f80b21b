"""What the telephony tests share besides fixtures: test accounts and their imported configs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from callbridge.common.models.medium import Provider
from callbridge.common.secrets import SecretBox
from callbridge.devkit.simulators.rest import (
    CalleeScript,
    ExotelRestApi,
    PlivoRestApi,
    SimulatedRestApi,
    TelnyxRestApi,
    TwilioRestApi,
)
from callbridge.telephony import ProviderRestClient, StoredTelephonyConfig, TelephonyApiSettings, provider_for

SECRET_KEY = "test-secret-key-0123456789-0123456789"

TWILIO_ACCOUNT_SID = "AC" + "b" * 32
TWILIO_AUTH_TOKEN = "twilio-auth-token-rest-tests"
TELNYX_API_KEY = "KEY0190RESTTESTSECRETKEY"
TELNYX_PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
TELNYX_PRIVATE_KEY_SEED = bytes(range(32))
"""The seed of TELNYX_PUBLIC_KEY: the simulated account signs its webhooks with it."""
TELNYX_CONNECTION_ID = "2419876543210987654"
PLIVO_AUTH_ID = "MAREST0000000000TEST"
PLIVO_AUTH_TOKEN = "plivo-auth-token-rest-tests"
EXOTEL_SID = "exotel-rest-sid"
EXOTEL_API_KEY = "exotel-rest-api-key"
EXOTEL_API_TOKEN = "exotel-api-token-rest-tests"
EXOTEL_WEBHOOK_SECRET = "exotel-webhook-secret-0123456789"

CREATE_BODIES: dict[Provider, dict[str, Any]] = {
    Provider.TWILIO: {"accountSid": TWILIO_ACCOUNT_SID, "authToken": TWILIO_AUTH_TOKEN},
    Provider.TELNYX: {
        "accountSid": "telnyx-account",
        "apiKey": TELNYX_API_KEY,
        "publicKey": TELNYX_PUBLIC_KEY,
        "applicationSid": TELNYX_CONNECTION_ID,
    },
    Provider.PLIVO: {"authId": PLIVO_AUTH_ID, "authToken": PLIVO_AUTH_TOKEN},
    Provider.EXOTEL: {
        "accountSid": EXOTEL_SID,
        "apiKey": EXOTEL_API_KEY,
        "apiToken": EXOTEL_API_TOKEN,
        "webhookSecret": EXOTEL_WEBHOOK_SECRET,
    },
}

SECRETS: dict[Provider, str] = {
    Provider.TWILIO: TWILIO_AUTH_TOKEN,
    Provider.TELNYX: TELNYX_API_KEY,
    Provider.PLIVO: PLIVO_AUTH_TOKEN,
    Provider.EXOTEL: EXOTEL_API_TOKEN,
}
"""The secret each provider's REST calls are authenticated with."""
SECRET_FIELD: dict[Provider, str] = {
    Provider.TWILIO: "authToken",
    Provider.TELNYX: "apiKey",
    Provider.PLIVO: "authToken",
    Provider.EXOTEL: "apiToken",
}

CALL_IDS: dict[Provider, str] = {
    Provider.TWILIO: "CA" + "1" * 32,
    Provider.TELNYX: "v3:Zr1-Abc_def0123456789",
    Provider.PLIVO: "6b1a6f3e-0000-4000-8000-00000000abcd",
    Provider.EXOTEL: "b6cfaf5f5cef3ca0fc937749ef960e25",
}
"""A call id of the shape each provider issues."""


def imported_config(provider: Provider, secret_box: SecretBox, **changes: Any) -> StoredTelephonyConfig:
    """The provider's config as callbridge stores it after an import, secrets sealed with ``secret_box``."""
    models = provider_for(provider).credentials
    body = models.create.model_validate({**CREATE_BODIES[provider], **changes})
    stored: StoredTelephonyConfig = models.stored.from_create(body, secret_box.encrypt)
    return stored


SETTING = {
    Provider.TWILIO: "twilio_api_url",
    Provider.TELNYX: "telnyx_api_url",
    Provider.PLIVO: "plivo_api_url",
    Provider.EXOTEL: "exotel_api_url",
}
"""Each provider's API URL setting."""


@dataclass
class ProviderApi:
    """One provider's simulated API, served, with a way to make callbridge's client for it."""

    provider: Provider
    api: SimulatedRestApi
    base_url: str
    config: StoredTelephonyConfig
    secret_box: SecretBox

    def client(
        self, *, timeout_s: float = 5.0, config_changes: dict[str, Any] | None = None
    ) -> ProviderRestClient:
        """The plugin's REST client at ``base_url``; ``config_changes`` alter the imported config (a wrong
        secret, say), given as the create body's fields."""
        config = self.config
        if config_changes:
            config = imported_config(self.provider, self.secret_box, **config_changes)
        settings = TelephonyApiSettings.model_validate(
            {SETTING[self.provider]: self.base_url, "provider_api_timeout_s": timeout_s}
        )
        return provider_for(self.provider).rest_client(config, self.secret_box.decrypt, settings)


def simulated_api(provider: Provider, script: CalleeScript | None = None) -> SimulatedRestApi:
    """The devkit's simulated API of the test account, its callees following ``script`` (by default every
    number answers and speaks); it may stream to ws:// URLs."""
    options: dict[str, Any] = {"script": script, "allow_insecure_ws": True}
    apis: dict[Provider, Callable[[], SimulatedRestApi]] = {
        Provider.TWILIO: lambda: TwilioRestApi(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, **options),
        Provider.TELNYX: lambda: TelnyxRestApi(
            TELNYX_API_KEY,
            private_key=TELNYX_PRIVATE_KEY_SEED,
            connection_id=TELNYX_CONNECTION_ID,
            account_id=CREATE_BODIES[Provider.TELNYX]["accountSid"],
            **options,
        ),
        Provider.PLIVO: lambda: PlivoRestApi(PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN, **options),
        Provider.EXOTEL: lambda: ExotelRestApi(
            EXOTEL_SID, EXOTEL_API_KEY, EXOTEL_API_TOKEN, webhook_secret=EXOTEL_WEBHOOK_SECRET, **options
        ),
    }
    return apis[provider]()


@contextlib.asynccontextmanager
async def served_api(provider: Provider, script: CalleeScript | None = None) -> AsyncIterator[ProviderApi]:
    """The provider's simulated API on a free port, with the test account's imported config."""
    api = simulated_api(provider, script)
    secret_box = SecretBox(SECRET_KEY)
    async with api.serve() as base_url:
        yield ProviderApi(provider, api, base_url, imported_config(provider, secret_box), secret_box)
