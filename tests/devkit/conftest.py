"""Fixtures for the devkit tests: the fake callbridge the Telnyx, Plivo and Exotel simulators call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.devkit.fake_provider_server import FakeServer, running_fake_server


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeServer]:
    async with running_fake_server() as server:
        yield server
