"""Keys of the provider-call index and the replay bucket."""

from callbridge.common.models.medium import Provider
from callbridge.common.models.provider_calls import provider_call_key


def test_provider_call_keys_are_valid_nats_keys_and_never_collide() -> None:
    assert provider_call_key(Provider.TELNYX, "v3:ab_C-1") == "telnyx.v3=3Aab_C-1"
    assert provider_call_key(Provider.EXOTEL, "a.b") != provider_call_key(Provider.EXOTEL, "a=2Eb")
    assert provider_call_key(Provider.PLIVO, "é") == "plivo.=C3=A9"
