import time
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from callbridge.common.join_tokens import (
    ExpiredJoinTokenError,
    InvalidJoinTokenError,
    JoinTokenSigner,
    join_url,
)


def test_signed_token_verifies_for_its_call_until_it_expires() -> None:
    signer = JoinTokenSigner("k" * 40)
    call_id = uuid4()
    expires = datetime.now(UTC) + timedelta(seconds=30)
    token = signer.sign(call_id, expires)
    signer.verify(call_id, token)
    with pytest.raises(ExpiredJoinTokenError):
        signer.verify(call_id, token, now=time.time() + 31)


def test_token_does_not_admit_another_call_or_key() -> None:
    call_id = uuid4()
    token = JoinTokenSigner("k" * 40).sign(call_id, datetime.now(UTC) + timedelta(seconds=30))
    with pytest.raises(InvalidJoinTokenError):
        JoinTokenSigner("k" * 40).verify(uuid4(), token)
    with pytest.raises(InvalidJoinTokenError):
        JoinTokenSigner("x" * 40).verify(call_id, token)


@pytest.mark.parametrize("token", ["", "abc", "123", "123.", ".abc", "12a.xyz"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidJoinTokenError):
        JoinTokenSigner("k" * 40).verify(uuid4(), token)


def test_tampered_expiry_is_refused() -> None:
    signer = JoinTokenSigner("k" * 40)
    call_id = uuid4()
    token = signer.sign(call_id, datetime.now(UTC) + timedelta(seconds=30))
    expires, _, mac = token.partition(".")
    with pytest.raises(InvalidJoinTokenError):
        signer.verify(call_id, f"{int(expires) + 3600}.{mac}")


def test_join_url_carries_the_token_in_the_path_not_the_query() -> None:
    call_id = uuid4()
    url = join_url("wss://media.example.com/", call_id, "123.abc")
    assert url == f"wss://media.example.com/calls/{call_id}/telephony/123.abc"
    assert "?" not in url
