"""Twilio signature verification against the published test vector (reference §5.1)."""

from callbridge.telephony.request import Fields
from callbridge.telephony.twilio.webhooks import connect_stream_twiml, verify_signature

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
    assert verify_signature(TOKEN, URL, Fields(PARAMS.items()), SIGNATURE)


def test_vector_verifies_with_the_default_port_added() -> None:
    assert verify_signature(
        TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", Fields(PARAMS.items()), SIGNATURE
    )


def test_any_change_breaks_the_signature() -> None:
    assert not verify_signature("54321", URL, Fields(PARAMS.items()), SIGNATURE)
    assert not verify_signature(TOKEN, URL.replace("foo=1", "foo=2"), Fields(PARAMS.items()), SIGNATURE)
    assert not verify_signature(TOKEN, URL, Fields({**PARAMS, "Digits": "1235"}.items()), SIGNATURE)
    assert not verify_signature(TOKEN, URL, Fields(PARAMS.items()), None)
    assert not verify_signature(TOKEN, URL, Fields(PARAMS.items()), "")


def test_twiml_connects_the_stream_then_hangs_up() -> None:
    xml = connect_stream_twiml("wss://m.example/calls/1/telephony/2.abc", {"callId": "1"})
    assert xml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        '<Stream url="wss://m.example/calls/1/telephony/2.abc"><Parameter name="callId" value="1" /></Stream>'
        "</Connect><Hangup /></Response>"
    )
