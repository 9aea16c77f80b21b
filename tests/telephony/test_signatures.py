"""Telnyx, Plivo and Exotel request authentication against the published vectors (reference §5.2-§5.4)."""

from __future__ import annotations

import base64

import pytest

from callbridge.telephony.errors import RequestNotVerified
from callbridge.telephony.exotel import webhooks as exotel
from callbridge.telephony.plivo import signature as plivo
from callbridge.telephony.request import Fields, Headers, ProviderRequest
from callbridge.telephony.telnyx import signature as telnyx

# §5.2: synthetic vector (seed 0x00..0x1f), not a Telnyx key.
TELNYX_PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
TELNYX_TIMESTAMP = "1700000000"
TELNYX_BODY = b'{"data":{"event_type":"call.initiated","payload":{"call_control_id":"v3:abc"}}}'
TELNYX_SIGNATURE = "3IagqxhPT6LiDx2vo652YOvhClZ4Yjba3geJrEVB507XIk3KPiG7LpKx+lDRjUEOgJ30dd1KU7r7UkkQ3VrYCQ=="

# §5.3: both vectors use this token and nonce.
PLIVO_TOKEN = "MY_AUTH_TOKEN"
PLIVO_NONCE = "05429567804466091622"
PLIVO_PARAMS = [("CallUUID", "abc"), ("From", "14155550100"), ("To", "14155550199"), ("Direction", "inbound")]
PLIVO_POST_BASE = "https://example.com/answer/?CallUUIDabcDirectioninboundFrom14155550100To14155550199"
PLIVO_POST_SIGNATURE = "Vw0ONp1YrzdQ2JE7CfowIgt7x6LX+AM0IGhJNiF0u3c="
PLIVO_GET_SIGNATURE = "AiiawZWXrUleSaAf3DvePmOF7NSzN7SovFA1jo8dccE="


def _telnyx_headers(signature: str = TELNYX_SIGNATURE, timestamp: str = TELNYX_TIMESTAMP) -> Headers:
    return Headers({"telnyx-signature-ed25519": signature, "telnyx-timestamp": timestamp})


def test_telnyx_vector_verifies_within_the_tolerance() -> None:
    verified = telnyx.verify_signature(TELNYX_PUBLIC_KEY, TELNYX_BODY, _telnyx_headers(), 1700000000 + 300)
    assert verified == base64.b64decode(TELNYX_SIGNATURE)


def test_telnyx_standard_webhooks_headers_carry_the_same_signature() -> None:
    headers = Headers({"webhook-signature": f"v1a,{TELNYX_SIGNATURE}", "webhook-timestamp": TELNYX_TIMESTAMP})
    assert telnyx.verify_signature(TELNYX_PUBLIC_KEY, TELNYX_BODY, headers, 1700000000)


@pytest.mark.parametrize(
    ("body", "headers", "now", "fragment"),
    [
        (TELNYX_BODY, _telnyx_headers(), 1700000000 + 301, "stale"),
        (TELNYX_BODY, _telnyx_headers(), 1700000000 - 301, "stale"),
        (TELNYX_BODY + b" ", _telnyx_headers(), 1700000000, "invalid"),
        (TELNYX_BODY, _telnyx_headers(timestamp="1700000001"), 1700000000, "invalid"),
        (TELNYX_BODY, _telnyx_headers(signature=""), 1700000000, "missing"),
        (TELNYX_BODY, _telnyx_headers(signature="bm90LWEtc2lnbmF0dXJl"), 1700000000, "missing or malformed"),
        (TELNYX_BODY, _telnyx_headers(timestamp="soon"), 1700000000, "Unix seconds"),
        (TELNYX_BODY, Headers({}), 1700000000, "missing"),
    ],
)
def test_telnyx_refuses_stale_tampered_and_missing(
    body: bytes, headers: Headers, now: int, fragment: str
) -> None:
    with pytest.raises(RequestNotVerified, match=fragment):
        telnyx.verify_signature(TELNYX_PUBLIC_KEY, body, headers, now)


def test_plivo_post_vector() -> None:
    base = plivo.base_string("POST", "https://example.com/answer/", PLIVO_PARAMS)
    assert base == PLIVO_POST_BASE
    assert plivo.compute_signature(PLIVO_TOKEN, base.encode(), PLIVO_NONCE) == PLIVO_POST_SIGNATURE


def test_plivo_get_vector_sorts_the_query() -> None:
    base = plivo.base_string("GET", "https://example.com/answer/?b=2&a=1", [])
    assert base == "https://example.com/answer/?a=1&b=2"
    assert plivo.compute_signature(PLIVO_TOKEN, base.encode(), PLIVO_NONCE) == PLIVO_GET_SIGNATURE


def test_plivo_post_to_a_url_with_a_query_joins_both_with_a_dot() -> None:
    base = plivo.base_string("POST", "https://example.com/answer/?b=2&a=1", PLIVO_PARAMS)
    assert (
        base == "https://example.com/answer/?a=1&b=2.CallUUIDabcDirectioninboundFrom14155550100To14155550199"
    )


def test_plivo_repeated_parameters_are_sorted_by_value() -> None:
    assert plivo.base_string("POST", "https://e.com/a", [("k", "2"), ("k", "1")]) == "https://e.com/a?k1k2"
    assert plivo.base_string("GET", "https://e.com/a?k=2&k=1", []) == "https://e.com/a?k=1&k=2"


def _plivo_request(
    method: str, url: str, params: list[tuple[str, str]], headers: dict[str, str]
) -> ProviderRequest:
    form = Fields(params) if method == "POST" else Fields()
    return ProviderRequest(method, url, Headers(headers), b"", form, form)


def test_plivo_verifies_any_entry_of_either_header_and_returns_it() -> None:
    nonce = {"X-Plivo-Signature-V3-Nonce": PLIVO_NONCE}
    listed = {**nonce, "X-Plivo-Signature-V3": f"bm90LWl0, {PLIVO_POST_SIGNATURE}"}
    request = _plivo_request("POST", "https://example.com/answer/", PLIVO_PARAMS, listed)
    assert plivo.verify_signature(PLIVO_TOKEN, request) == PLIVO_POST_SIGNATURE
    main_account = {**nonce, "X-Plivo-Signature-Ma-V3": PLIVO_GET_SIGNATURE}
    get = _plivo_request("GET", "https://example.com/answer/?b=2&a=1", [], main_account)
    assert plivo.verify_signature(PLIVO_TOKEN, get) == PLIVO_GET_SIGNATURE


SIGNED = {"X-Plivo-Signature-V3": PLIVO_POST_SIGNATURE}
NONCE = {"X-Plivo-Signature-V3-Nonce": PLIVO_NONCE}


@pytest.mark.parametrize(
    ("token", "headers", "fragment"),
    [
        ("OTHER_TOKEN", {**SIGNED, **NONCE}, "invalid"),
        (PLIVO_TOKEN, {**SIGNED, "X-Plivo-Signature-V3-Nonce": "1"}, "invalid"),
        (PLIVO_TOKEN, SIGNED, "missing X-Plivo-Signature-V3-Nonce"),
        (PLIVO_TOKEN, NONCE, "missing X-Plivo-Signature-V3 "),
    ],
)
def test_plivo_refuses_wrong_token_nonce_and_missing_headers(
    token: str, headers: dict[str, str], fragment: str
) -> None:
    request = _plivo_request("POST", "https://example.com/answer/", PLIVO_PARAMS, headers)
    with pytest.raises(RequestNotVerified, match=fragment):
        plivo.verify_signature(token, request)


def test_plivo_accepts_the_sdk_encoding_of_non_ascii_fields() -> None:
    """plivo-python signs UTF-8 bytes read as Latin-1 and encoded again (``string_format``)."""
    params = [("CallerName", "José")]
    base = plivo.base_string("POST", "https://example.com/answer/", params)
    sdk_signature = plivo.compute_signature(
        PLIVO_TOKEN, base.encode().decode("latin-1").encode(), PLIVO_NONCE
    )
    headers = {"X-Plivo-Signature-V3": sdk_signature, "X-Plivo-Signature-V3-Nonce": PLIVO_NONCE}
    request = _plivo_request("POST", "https://example.com/answer/", params, headers)
    assert plivo.verify_signature(PLIVO_TOKEN, request) == sdk_signature


SECRET = "exotel-webhook-secret-0123456789"


def _basic(user_password: str) -> str:
    return "Basic " + base64.b64encode(user_password.encode()).decode()


def _exotel_request(headers: dict[str, str], path_secret: str | None = None) -> ProviderRequest:
    return ProviderRequest("GET", "https://h/x", Headers(headers), b"", Fields(), Fields(), None, path_secret)


def test_exotel_secret_by_basic_auth_with_any_user_or_by_path() -> None:
    exotel.verify_secret(SECRET, _exotel_request({"Authorization": _basic(f"anyone:{SECRET}")}))
    exotel.verify_secret(SECRET, _exotel_request({}, path_secret=SECRET))
    assert exotel.basic_auth_password(_basic(f"u:{SECRET}:with-colon")) == f"{SECRET}:with-colon"
    assert exotel.basic_auth_password("Bearer x") is None
    assert exotel.basic_auth_password("Basic !!!") is None


@pytest.mark.parametrize(
    ("headers", "path_secret", "fragment"),
    [
        ({}, None, "missing"),
        ({"Authorization": _basic(f"exotel:{SECRET}x")}, None, "wrong"),
        ({}, SECRET[:-1], "wrong"),
        ({"Authorization": _basic("exotel:nope")}, SECRET, "wrong"),
    ],
)
def test_exotel_refuses_missing_or_wrong_secrets(
    headers: dict[str, str], path_secret: str | None, fragment: str
) -> None:
    with pytest.raises(RequestNotVerified, match=fragment):
        exotel.verify_secret(SECRET, _exotel_request(headers, path_secret))
