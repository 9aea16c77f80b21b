"""Each provider's answer document, audio choice, status mapping, and provider detection, one module each."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callbridge.common.models.medium import PlivoCodec, Provider, TelnyxCodec
from callbridge.telephony.errors import InvalidProviderRequest, RequestNotVerified, UnknownProvider
from callbridge.telephony.exotel import webhooks as exotel
from callbridge.telephony.exotel.credentials import StoredExotelConfig
from callbridge.telephony.plivo import webhooks as plivo
from callbridge.telephony.plivo.credentials import StoredPlivoConfig
from callbridge.telephony.registry import detect_provider, providers_seen
from callbridge.telephony.request import Fields, Headers, ProviderRequest
from callbridge.telephony.status import StatusOutcome
from callbridge.telephony.telnyx import webhooks as telnyx
from callbridge.telephony.telnyx.credentials import StoredTelnyxConfig

ALL = frozenset(Provider)


def _request(
    headers: dict[str, str] | None = None,
    fields: dict[str, str] | None = None,
    document: dict[str, Any] | None = None,
    path_secret: str | None = None,
) -> ProviderRequest:
    form = Fields((fields or {}).items())
    return ProviderRequest(
        "POST", "https://h/p", Headers(headers or {}), b"", form, form, document, path_secret
    )


def _telnyx_config(**audio: object) -> StoredTelnyxConfig:
    secrets = {
        "api_key_encrypted": "x",
        "api_key_prefix": "x",
        "public_key_encrypted": "x",
        "public_key_prefix": "x",
    }
    return StoredTelnyxConfig.model_validate({"account_sid": "a", **secrets, **audio})


def test_texml_asks_for_equal_codecs_and_reports_stream_status() -> None:
    xml = telnyx.connect_stream_texml(
        "wss://m/calls/1/telephony/2.x", "1", "https://h/api/calls/1/provider_status/telnyx",
        telnyx.TelnyxAudio(TelnyxCodec.PCMU, 8000),
    )  # fmt: skip
    assert xml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        '<Stream url="wss://m/calls/1/telephony/2.x" bidirectionalMode="rtp" codec="PCMU" '
        'bidirectionalCodec="PCMU" bidirectionalSamplingRate="8000" '
        'statusCallback="https://h/api/calls/1/provider_status/telnyx" statusCallbackMethod="POST">'
        '<Parameter name="callId" value="1" /></Stream></Connect><Hangup /></Response>'
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, (TelnyxCodec.L16, 16000)),
        ({"codec": "PCMA"}, (TelnyxCodec.PCMA, 8000)),
        ({"sample_rate": 8000}, (TelnyxCodec.PCMU, 8000)),
        ({"sample_rate": 16000}, (TelnyxCodec.L16, 16000)),
    ],
)
def test_telnyx_audio_defaults_to_l16_at_16_khz(
    config: dict[str, object], expected: tuple[TelnyxCodec, int]
) -> None:
    audio = telnyx.choose_audio(None, _telnyx_config(**config))
    assert (audio.codec, audio.sample_rate_hz) == expected


def test_plivo_stream_text_is_the_escaped_join_url() -> None:
    xml = plivo.stream_xml("wss://m/a?x=1&y=<2>", "https://h/cb", plivo.PlivoAudio(PlivoCodec.L16, 8000))
    assert xml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Stream bidirectional="true" keepCallAlive="true" '
        'contentType="audio/x-l16;rate=8000" statusCallbackUrl="https://h/cb" statusCallbackMethod="POST">'
        "wss://m/a?x=1&amp;y=&lt;2&gt;</Stream></Response>"
    )


@pytest.mark.parametrize(
    ("config", "content_type"),
    [
        ({}, "audio/x-l16;rate=16000"),
        ({"sample_rate": 8000}, "audio/x-l16;rate=8000"),
        ({"codec": "PCMU"}, "audio/x-mulaw;rate=8000"),
    ],
)
def test_plivo_content_type(config: dict[str, object], content_type: str) -> None:
    stored = StoredPlivoConfig.model_validate(
        {"auth_id": "MA1", "auth_token_encrypted": "x", "auth_token_prefix": "x", **config}
    )
    assert plivo.choose_audio(None, stored).content_type == content_type


def test_exotel_answer_is_the_voicebot_dynamic_url_json() -> None:
    assert json.loads(exotel.stream_url_json("wss://m/calls/1/telephony/2.x", 24000)) == {
        "url": "wss://m/calls/1/telephony/2.x?sample-rate=24000"
    }
    stored = StoredExotelConfig.model_validate(
        {
            "account_sid": "s",
            "api_key": "k",
            "api_token_encrypted": "x",
            "api_token_prefix": "x",
            "webhook_secret_encrypted": "x",
            "webhook_secret_prefix": "x",
        }
    )
    assert exotel.choose_sample_rate_hz(None, stored) == 16000


@pytest.mark.parametrize(
    ("module", "request_fields", "status", "outcome"),
    [
        (
            telnyx,
            {"StreamEvent": "stream-started", "CallSid": "v3:x"},
            "stream-started",
            StatusOutcome.PROGRESS,
        ),
        (telnyx, {"StreamEvent": "stream-failed", "CallSid": "v3:x"}, "stream-failed", StatusOutcome.FAILED),
        (telnyx, {"CallStatus": "completed", "CallSid": "v3:x"}, "completed", StatusOutcome.ENDED),
        (plivo, {"Event": "StopStream", "CallUUID": "u"}, "StopStream", StatusOutcome.ENDED),
        (plivo, {"Event": "DroppedStream", "CallUUID": "u"}, "DroppedStream", StatusOutcome.FAILED),
        (plivo, {"CallStatus": "no-answer", "CallUUID": "u"}, "no-answer", StatusOutcome.ENDED),
        (exotel, {"Status": "busy", "CallSid": "c"}, "busy", StatusOutcome.ENDED),
        (exotel, {"Status": "failed", "CallSid": "c"}, "failed", StatusOutcome.FAILED),
        (exotel, {"CallStatus": "in-progress", "CallSid": "c"}, "in-progress", StatusOutcome.PROGRESS),
    ],
)
def test_status_callbacks_map_to_outcomes(
    module: object, request_fields: dict[str, str], status: str, outcome: StatusOutcome
) -> None:
    parsed = module.parse_status(_request(fields=request_fields))  # type: ignore[attr-defined]  # one of three modules
    assert (parsed.status, parsed.outcome) == (status, outcome)
    assert parsed.provider_call_id is not None


def test_telnyx_call_control_json_gives_the_event_and_its_cause() -> None:
    document = {
        "data": {
            "event_type": "streaming.failed",
            "payload": {"call_control_id": "v3:x", "failure_reason": "refused"},
        }
    }
    parsed = telnyx.parse_status(_request(document=document))
    assert (parsed.status, parsed.outcome, parsed.detail) == (
        "streaming.failed",
        StatusOutcome.FAILED,
        "refused",
    )
    assert parsed.fields == {
        "event_type": "streaming.failed",
        "call_control_id": "v3:x",
        "failure_reason": "refused",
    }
    with pytest.raises(InvalidProviderRequest):
        telnyx.parse_status(_request(document={"data": []}))


@pytest.mark.parametrize(
    ("headers", "path_secret", "expected"),
    [
        ({"X-Twilio-Signature": "s"}, None, {Provider.TWILIO}),
        ({"telnyx-timestamp": "1"}, None, {Provider.TELNYX}),
        ({"webhook-signature": "v1a,x"}, None, {Provider.TELNYX}),
        ({"X-Plivo-Signature-Ma-V3": "s"}, None, {Provider.PLIVO}),
        ({"Authorization": "Basic eDp5"}, None, {Provider.EXOTEL}),
        ({"Authorization": "Bearer x"}, "secret", {Provider.EXOTEL}),
        ({"X-Twilio-Signature": "s", "X-Plivo-Signature-V3": "s"}, None, {Provider.TWILIO, Provider.PLIVO}),
        ({}, None, set()),
    ],
)
def test_providers_are_recognised_by_their_credentials(
    headers: dict[str, str], path_secret: str | None, expected: set[Provider]
) -> None:
    assert providers_seen(_request(headers=headers, path_secret=path_secret)) == expected


def test_detection_needs_exactly_one_imported_provider_with_credentials() -> None:
    twilio_signed = _request(headers={"X-Twilio-Signature": "s"})
    assert detect_provider(twilio_signed, ALL) is Provider.TWILIO
    with pytest.raises(RequestNotVerified, match="no Twilio credentials"):
        detect_provider(twilio_signed, frozenset({Provider.PLIVO}))
    with pytest.raises(UnknownProvider, match="Twilio and Exotel"):
        detect_provider(_request(headers={"X-Twilio-Signature": "s", "Authorization": "Basic eDp5"}), ALL)
    with pytest.raises(UnknownProvider, match="cannot tell"):
        detect_provider(_request(), frozenset({Provider.TELNYX, Provider.EXOTEL}))
    with pytest.raises(RequestNotVerified, match="missing telnyx-signature-ed25519"):
        detect_provider(_request(), frozenset({Provider.TELNYX}))
    with pytest.raises(RequestNotVerified, match="no telephony credentials"):
        detect_provider(_request(), frozenset())
