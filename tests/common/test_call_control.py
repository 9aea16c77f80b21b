"""The call-control request models: what a transfer or DTMF request may say, refused with a clear message
otherwise, and how commands read back from the stream."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError

from callbridge.common.call_control import (
    COMMANDS,
    ColdTransfer,
    ColdTransferRequest,
    ProviderHangUp,
    SendDtmf,
    SendDtmfRequest,
)


@pytest.mark.parametrize(
    "target", ["+15557654321", "sip:desk@example.com", "sips:a.b@10.0.0.1:5061;transport=tls"]
)
def test_a_transfer_goes_to_a_number_or_a_sip_uri(target: str) -> None:
    assert ColdTransferRequest(target=target).target == target


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"target": "desk"}, "E.164 number"),
        ({"target": "15557654321"}, "E.164 number"),
        ({"target": "sip:nobody"}, "SIP URI"),
        ({"target": "sip:a@example.com", "extraHeaders": {"Via": "x"}}, "X- header"),
        ({"target": "sip:a@example.com", "extraHeaders": {"X-A": "line\r\nbreak"}}, "printable ASCII"),
        ({"target": "+15557654321", "extraHeaders": {"X-A": "1"}}, "SIP URI only"),
        ({"target": "+15557654321", "holdMusicUrl": "not a url"}, "URL"),
        ({"target": "+15557654321", "unknown": 1}, "Extra inputs"),
    ],
)
def test_a_transfer_request_that_cannot_be_carried_out_is_refused(body: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        ColdTransferRequest.model_validate(body)


@pytest.mark.parametrize(
    "body",
    [{"digits": ""}, {"digits": "12x"}, {"digits": "1" * 65}, {"digits": "1", "toneDuration": 0.05}],
)
def test_keys_outside_the_dtmf_alphabet_or_lengths_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SendDtmfRequest.model_validate(body)


def test_commands_read_back_as_what_was_published() -> None:
    call_id = uuid4()
    commands = [
        ColdTransfer(call_id=call_id, target="sip:desk@example.com", extra_headers={"X-T": "1"}),
        SendDtmf(call_id=call_id, digits="12w#", tone_duration=0.25),
        ProviderHangUp.after_end(call_id),
    ]
    assert [COMMANDS.validate_json(command.to_json()) for command in commands] == commands
    assert ProviderHangUp.after_end(call_id).command_id == commands[2].command_id
    assert SendDtmf(call_id=call_id, digits="1", tone_duration=0.25).tone_ms == 250
