"""Everything provider-specific that is not the media wire: credential models, webhook signatures and replay
keys, incoming calls, answer documents, status callbacks and REST clients, one sub-package per provider
(``twilio``, ``telnyx``, ``plivo``, ``exotel``), found through the registry (``provider_for``)."""

from callbridge.telephony.accounts import ProviderAccounts, RestClients
from callbridge.telephony.config_store import TelephonyConfigs
from callbridge.telephony.credentials import (
    AgentAccess,
    AgentAccessUpdate,
    ConfigChangeError,
    CredentialModels,
    StoredTelephonyConfig,
)
from callbridge.telephony.errors import (
    CallAlreadyEnded,
    CallNotFound,
    InvalidDialRequest,
    InvalidProviderRequest,
    ProviderApiError,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderUnavailable,
    RequestNotVerified,
    TelephonyError,
    UnknownProvider,
    UnsupportedByProvider,
)
from callbridge.telephony.incoming import AnswerDocument, IncomingCall, StreamPlan, StreamTarget
from callbridge.telephony.provider import TelephonyProvider, Verified
from callbridge.telephony.registry import PROVIDERS, detect_provider, provider_for, providers_seen
from callbridge.telephony.request import Fields, Headers, ProviderRequest
from callbridge.telephony.rest.client import (
    DialRequest,
    DialResult,
    HangUpResult,
    JoinRequest,
    ProviderCallState,
    ProviderCallStatus,
    ProviderRestClient,
    TransferRequest,
)
from callbridge.telephony.settings import TelephonyApiSettings
from callbridge.telephony.status import ProviderStatus, StatusOutcome

__all__ = [
    "PROVIDERS",
    "AgentAccess",
    "AgentAccessUpdate",
    "AnswerDocument",
    "CallAlreadyEnded",
    "CallNotFound",
    "ConfigChangeError",
    "CredentialModels",
    "DialRequest",
    "DialResult",
    "Fields",
    "HangUpResult",
    "Headers",
    "IncomingCall",
    "InvalidDialRequest",
    "InvalidProviderRequest",
    "JoinRequest",
    "ProviderAccounts",
    "ProviderApiError",
    "ProviderAuthError",
    "ProviderCallState",
    "ProviderCallStatus",
    "ProviderRateLimited",
    "ProviderRequest",
    "ProviderRequestError",
    "ProviderRestClient",
    "ProviderStatus",
    "ProviderUnavailable",
    "RequestNotVerified",
    "RestClients",
    "StatusOutcome",
    "StoredTelephonyConfig",
    "StreamPlan",
    "StreamTarget",
    "TelephonyApiSettings",
    "TelephonyConfigs",
    "TelephonyError",
    "TelephonyProvider",
    "TransferRequest",
    "UnknownProvider",
    "UnsupportedByProvider",
    "Verified",
    "detect_provider",
    "provider_for",
    "providers_seen",
]
