"""The framework-free provider request: headers case-insensitive and never shown, repeated fields kept."""

from __future__ import annotations

from callbridge.telephony.request import Fields, Headers, ProviderRequest


def test_headers_are_case_insensitive_keep_the_first_value_and_never_show_values() -> None:
    headers = Headers([("X-Twilio-Signature", "secret-sig"), ("x-twilio-signature", "second")])
    assert headers["x-twilio-signature"] == headers["X-TWILIO-SIGNATURE"] == "secret-sig"
    assert "X-Twilio-Signature" in headers
    assert "secret-sig" not in repr(headers)


def test_fields_give_the_last_value_by_name_and_every_value_by_getlist() -> None:
    fields = Fields([("k", "2"), ("a", "x"), ("k", "1")])
    assert fields["k"] == "1"
    assert fields.getlist("k") == ["2", "1"]
    assert fields.pairs == (("k", "2"), ("a", "x"), ("k", "1"))
    request = ProviderRequest("POST", "https://h/p", Headers(), b"", fields, fields)
    assert request.flat_fields() == {"k": "1", "a": "x"}
    assert request.field("missing", "a") == "x"
    assert request.field("empty") is None
