"""Exotel's webhooks: the shared secret (Exotel signs nothing, reference §4.5, §5.4), the
Voicebot applet's dynamic-URL request and its JSON answer (§4.1), and the call status callback.

The secret arrives either as the password of HTTP Basic Auth (any user name) or as the last path segment
of the configured URL; either way it is compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from urllib.parse import quote, urlsplit

from callbridge.common.models.medium import CallMedium, ExotelMedium, Provider
from callbridge.telephony.errors import InvalidProviderRequest, RequestNotVerified
from callbridge.telephony.exotel.credentials import StoredExotelConfig
from callbridge.telephony.incoming import (
    JSON_MEDIA_TYPE,
    AnswerDocument,
    IncomingCall,
    StreamPlan,
    StreamTarget,
    call_from_fields,
    medium_of,
    template_settings,
)
from callbridge.telephony.request import ProviderRequest
from callbridge.telephony.status import ProviderStatus, dial_status_of, outcome_of, pick_fields

AUTHORIZATION_HEADER = "Authorization"
DEFAULT_SAMPLE_RATE_HZ = 16000  # Exotel's own default is 8000 (§4.1); ask for wideband unless told

# §4.1 StatusCallback ``Status`` and the Passthru applet's ``CallStatus`` (§4.5).
STATUS_ENDED = frozenset({"completed", "busy", "no-answer", "canceled"})
STATUS_FAILED = frozenset({"failed"})
STATUS_FIELDS = (
    "CallSid",
    "Status",
    "CallStatus",
    "Direction",
    "DateUpdated",
    "StartTime",
    "EndTime",
    "DialCallDuration",
)


def basic_auth_password(authorization: str | None) -> str | None:
    """The password of ``Authorization: Basic base64(user:password)``, or None if there is none."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    _user, separator, password = decoded.partition(":")
    return password if separator else None


def carries_secret(request: ProviderRequest) -> bool:
    """Whether the request offers an Exotel secret at all (how Exotel's requests are recognised)."""
    authorization = request.headers.get(AUTHORIZATION_HEADER, "")
    return request.path_secret is not None or authorization.lower().startswith("basic ")


def verify_secret(webhook_secret: str, request: ProviderRequest) -> None:
    """Every secret the request offers (path segment, Basic Auth password) must equal ours."""
    offered = [
        secret
        for secret in (request.path_secret, basic_auth_password(request.headers.get(AUTHORIZATION_HEADER)))
        if secret is not None
    ]
    if not offered:
        raise RequestNotVerified(
            "missing Exotel webhook secret: use Basic Auth or the URL that ends with the webhookSecret"
        )
    expected = webhook_secret.encode()
    if not all(hmac.compare_digest(secret.encode(), expected) for secret in offered):
        raise RequestNotVerified("wrong Exotel webhook secret")


def choose_sample_rate_hz(template: ExotelMedium | None, config: StoredExotelConfig) -> int:
    """The agent template's ``medium.exotel.sampleRate``, else the config's, else 16 kHz."""
    if template is not None and template.sample_rate is not None:
        return template.sample_rate
    return config.sample_rate or DEFAULT_SAMPLE_RATE_HZ


def stream_url_at_rate(stream_url: str, sample_rate_hz: int) -> str:
    """``wss://…?sample-rate=16000``: how Exotel is asked for a rate (§4.1), on an incoming call's applet
    and an outbound call's ``StreamUrl`` alike. The join URL carries its credential in the path, so the query
    is free for ``sample-rate``."""
    return f"{stream_url}?sample-rate={sample_rate_hz}"


def stream_url_json(stream_url: str, sample_rate_hz: int) -> str:
    """``{"url": "wss://…?sample-rate=16000"}``: what the Voicebot applet's https URL mode expects (§4.1)."""
    return json.dumps({"url": stream_url_at_rate(stream_url, sample_rate_hz)})


def incoming_call(request: ProviderRequest, config: StoredExotelConfig) -> IncomingCall:
    return call_from_fields(request, "CallSid", account_id=config.account_sid)


class ExotelStreamPlan(StreamPlan):
    def __init__(self, medium: CallMedium, sample_rate_hz: int) -> None:
        super().__init__(medium)
        self.sample_rate_hz = sample_rate_hz

    def answer(self, target: StreamTarget) -> AnswerDocument:
        return AnswerDocument(stream_url_json(target.join_url, self.sample_rate_hz), JSON_MEDIA_TYPE)


def plan_stream(config: StoredExotelConfig, template: CallMedium | None) -> ExotelStreamPlan:
    settings = template_settings(template, Provider.EXOTEL)
    rate_hz = choose_sample_rate_hz(ExotelMedium.model_validate(settings) if settings else None, config)
    chosen = ExotelMedium.model_validate({**settings, "sample_rate": rate_hz})
    return ExotelStreamPlan(medium_of(Provider.EXOTEL, chosen), rate_hz)


def parse_status(request: ProviderRequest) -> ProviderStatus:
    """A StatusCallback (``Status``) or a Passthru applet request (``CallStatus``)."""
    status = request.field("Status", "CallStatus")
    if status is None:
        raise InvalidProviderRequest("Exotel status callback without Status or CallStatus")
    return ProviderStatus(
        status=status,
        outcome=outcome_of(status.lower(), STATUS_ENDED, STATUS_FAILED),
        provider_call_id=request.field("CallSid"),
        fields=pick_fields(request.flat_fields(), STATUS_FIELDS),
        dial_status=dial_status_of(status),
    )


def url_with_secret(url: str, webhook_secret: str) -> str:
    """``url`` with ``exotel:<webhook secret>@`` (Basic Auth): Exotel signs nothing, so its callbacks prove
    where they come from by the secret they carry back (verify_secret)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"exotel:{quote(webhook_secret, safe='')}@{host}").geturl()
