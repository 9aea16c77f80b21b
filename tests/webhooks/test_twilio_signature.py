"""Twilio signature verification against the published test vector (reference §5.1)."""

from starlette.datastructures import FormData

from callbridge.webhooks.twilio import connect_stream_twiml, map_request_context, verify_signature

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_published_vector_verifies() -> None:
    assert verify_signature(TOKEN, URL, FormData(PARAMS), SIGNATURE)


def test_vector_verifies_with_the_default_port_added() -> None:
    assert verify_signature(
        TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", FormData(PARAMS), SIGNATURE
    )


def test_any_change_breaks_the_signature() -> None:
    assert not verify_signature("54321", URL, FormData(PARAMS), SIGNATURE)
    assert not verify_signature(TOKEN, URL.replace("foo=1", "foo=2"), FormData(PARAMS), SIGNATURE)
    assert not verify_signature(TOKEN, URL, FormData({**PARAMS, "Digits": "1235"}), SIGNATURE)
    assert not verify_signature(TOKEN, URL, FormData(PARAMS), None)
    assert not verify_signature(TOKEN, URL, FormData(PARAMS), "")


def test_request_context_mapping_builds_nested_context() -> None:
    context = map_request_context(PARAMS, {"From": "user.phone_number", "To": "called", "Missing": "x"})
    assert context == {"user": {"phone_number": "+12349013030"}, "called": "+18005551212"}


def test_twiml_connects_the_stream_then_hangs_up() -> None:
    xml = connect_stream_twiml("wss://m.example/calls/1/telephony/2.abc", {"callId": "1"})
    assert xml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        '<Stream url="wss://m.example/calls/1/telephony/2.abc"><Parameter name="callId" value="1" /></Stream>'
        "</Connect><Hangup /></Response>"
    )
