"""Fixtures for the REST client tests: each provider's simulated API on real HTTP, an imported config for its
account, and callbridge's REST client pointed at it through the API URL setting (see helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callbridge.common.models.medium import Provider
from tests.telephony.helpers import ProviderApi, served_api


@pytest.fixture(params=list(Provider), ids=[provider.value for provider in Provider])
async def provider_api(request: pytest.FixtureRequest) -> AsyncIterator[ProviderApi]:
    async with served_api(request.param) as served:
        yield served


@pytest.fixture(params=[Provider.TWILIO, Provider.TELNYX, Provider.PLIVO], ids=["twilio", "telnyx", "plivo"])
async def hang_up_api(request: pytest.FixtureRequest) -> AsyncIterator[ProviderApi]:
    """The providers whose API can hang up a call (Exotel's cannot)."""
    async with served_api(request.param) as served:
        yield served
