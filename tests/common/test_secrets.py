import pytest

from callbridge.common.secrets import SecretBox, SecretDecryptionError


def test_secret_box_round_trips_and_hides_plaintext() -> None:
    box = SecretBox("a" * 40)
    token = box.encrypt("my-twilio-auth-token")
    assert "my-twilio-auth-token" not in token
    assert box.decrypt(token) == "my-twilio-auth-token"


def test_secret_box_refuses_a_different_key() -> None:
    token = SecretBox("a" * 40).encrypt("secret")
    with pytest.raises(SecretDecryptionError):
        SecretBox("b" * 40).decrypt(token)
