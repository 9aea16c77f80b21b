"""A simulated provider account with fresh credentials, for ``callbridge sim account`` and the tests."""

from __future__ import annotations

import secrets
from typing import Unpack

from callbridge.common.models.medium import Provider
from callbridge.devkit.simulators.rest.base import AccountOptions, SimulatedRestApi
from callbridge.devkit.simulators.rest.exotel import ExotelRestApi
from callbridge.devkit.simulators.rest.plivo import PlivoRestApi
from callbridge.devkit.simulators.rest.telnyx import TelnyxRestApi
from callbridge.devkit.simulators.rest.twilio import TwilioRestApi

__all__ = ["new_account"]


def new_account(provider: Provider, **options: Unpack[AccountOptions]) -> SimulatedRestApi:
    """The provider's simulated account, with credentials shaped like the provider's and made up now; its
    ``telephony_config()`` is what to import into callbridge."""
    if provider is Provider.TWILIO:
        return TwilioRestApi("AC" + secrets.token_hex(16), secrets.token_hex(16), **options)
    if provider is Provider.TELNYX:
        connection_id = str(1_000_000_000_000_000_000 + secrets.randbelow(9 * 10**18))
        return TelnyxRestApi("KEY" + secrets.token_hex(16), connection_id=connection_id, **options)
    if provider is Provider.PLIVO:
        return PlivoRestApi("MA" + secrets.token_hex(9).upper(), secrets.token_hex(16), **options)
    return ExotelRestApi(
        "simulated" + secrets.token_hex(4), "key" + secrets.token_hex(8), secrets.token_hex(16), **options
    )
