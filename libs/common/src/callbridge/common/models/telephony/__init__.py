"""Imported provider credentials (Ultravox §3): write-only secrets, only their prefixes are returned.

One module per provider; ``access`` holds what they share, ``records`` the webhook bookkeeping records.
"""

from callbridge.common.models.sealing import SECRET_PREFIX_LENGTH, Encrypt, secret_prefix
from callbridge.common.models.telephony.access import (
    AgentAccess,
    AgentAccessUpdate,
    ConfigChangeError,
    StoredTelephonyConfig,
)
from callbridge.common.models.telephony.exotel import (
    ExotelConfigCreate,
    ExotelConfigPublic,
    ExotelConfigUpdate,
    StoredExotelConfig,
)
from callbridge.common.models.telephony.plivo import (
    PlivoConfigCreate,
    PlivoConfigPublic,
    PlivoConfigUpdate,
    StoredPlivoConfig,
)
from callbridge.common.models.telephony.records import (
    ProviderCallLink,
    ReplayMark,
    provider_call_key,
    replay_key,
)
from callbridge.common.models.telephony.telnyx import (
    StoredTelnyxConfig,
    TelnyxConfigCreate,
    TelnyxConfigPublic,
    TelnyxConfigUpdate,
)
from callbridge.common.models.telephony.twilio import (
    StoredTwilioConfig,
    TwilioConfigCreate,
    TwilioConfigPublic,
    TwilioConfigUpdate,
)

StoredProviderConfig = StoredTwilioConfig | StoredTelnyxConfig | StoredPlivoConfig | StoredExotelConfig

__all__ = [
    "SECRET_PREFIX_LENGTH",
    "AgentAccess",
    "AgentAccessUpdate",
    "ConfigChangeError",
    "Encrypt",
    "ExotelConfigCreate",
    "ExotelConfigPublic",
    "ExotelConfigUpdate",
    "PlivoConfigCreate",
    "PlivoConfigPublic",
    "PlivoConfigUpdate",
    "ProviderCallLink",
    "ReplayMark",
    "StoredExotelConfig",
    "StoredPlivoConfig",
    "StoredProviderConfig",
    "StoredTelephonyConfig",
    "StoredTelnyxConfig",
    "StoredTwilioConfig",
    "TelnyxConfigCreate",
    "TelnyxConfigPublic",
    "TelnyxConfigUpdate",
    "TwilioConfigCreate",
    "TwilioConfigPublic",
    "TwilioConfigUpdate",
    "provider_call_key",
    "replay_key",
    "secret_prefix",
]
