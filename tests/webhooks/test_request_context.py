"""``requestContextMapping``: webhook fields into the call's template context."""

from callbridge.webhooks.request_context import map_request_context

PARAMS = {"CallSid": "CA1234567890ABCDE", "From": "+12349013030", "To": "+18005551212"}


def test_request_context_mapping_builds_nested_context() -> None:
    context = map_request_context(PARAMS, {"From": "user.phone_number", "To": "called", "Missing": "x"})
    assert context == {"user": {"phone_number": "+12349013030"}, "called": "+18005551212"}
