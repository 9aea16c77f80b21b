"""The whole stack (webhooks + media on real HTTP and WebSockets, a real nats-server) for end-to-end tests."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from callbridge.devkit.provision import Provisioned, provision_twilio_agent
from callbridge.devkit.simulators.audio_codec import AudioCodec, ByteOrder
from callbridge.devkit.simulators.twilio import TwilioSimulator
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack

API_KEY = "e2e-api-key-0123456789"
SECRET_KEY = "e2e-secret-key-0123456789-0123456789"


@pytest.fixture
async def stack(nats_url: str, clean_jetstream: None) -> AsyncIterator[RunningStack]:
    async with run_stack(StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)) as running:
        yield running


async def twilio_for(
    stack: RunningStack, call_template: dict[str, Any], name: str = "e2e"
) -> tuple[TwilioSimulator, Provisioned]:
    provisioned = await provision_twilio_agent(
        stack.webhooks_url, stack.api_key, stack.public_base_url, name=name, call_template=call_template
    )
    simulator = TwilioSimulator(
        provisioned.webhook_url, provisioned.auth_token, provisioned.account_sid, allow_insecure_ws=True
    )
    return simulator, provisioned


def audio_sent_back(recording: Any, *, byte_order: ByteOrder = "little") -> np.ndarray:
    """Every audio payload media sent the caller, decoded and joined in order.

    Quality (SINAD) is measured on this, not on the time-aligned ``heard`` track: the simulated carrier
    inserts silence whenever a frame arrives after its playout buffer ran dry, which is a timing matter
    the delay and latency checks cover, and would make a SINAD figure flaky on a loaded machine.
    """
    codec = AudioCodec(recording.outbound_encoding, recording.heard_rate_hz, byte_order)
    chunks = [
        base64.b64decode(received.message["media"]["payload"])
        for received in recording.received
        if received.event in ("media", "playAudio") and received.message is not None
    ]
    return codec.decode(b"".join(chunks))
