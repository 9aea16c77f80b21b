"""Helpers the end-to-end tests share: the stack's keys, provisioning, reading events, calls and audio.

Fixtures live in conftest.py; everything a test module imports lives here (tests never import each other).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import numpy as np

from callbridge.common.events import CallEnded, CallEvent
from callbridge.devkit.provision import Provisioned, provision_twilio_agent
from callbridge.devkit.simulators.audio_codec import AudioCodec, ByteOrder
from callbridge.devkit.simulators.twilio import TwilioSimulator
from callbridge.devkit.stack import RunningStack
from callbridge.devkit.timeline import follow_call
from callbridge.media.agents.demo import SAMPLE_RATE_HZ as DEMO_RATE_HZ
from callbridge.media.agents.demo import prompt

API_KEY = "e2e-api-key-0123456789"
SECRET_KEY = "e2e-secret-key-0123456789-0123456789"


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


async def events_of(
    nats_url: str, call_id: str, *, until: type[CallEvent] = CallEnded, timeout_s: float = 10.0
) -> list[CallEvent]:
    """The call's events from the start, up to and including the first ``until``."""
    events: list[CallEvent] = []
    async with follow_call(nats_url, call_id) as queue, asyncio.timeout(timeout_s):
        while not any(isinstance(e, until) for e in events):
            events.append(await queue.get())
    return events


async def get_call(stack: RunningStack, call_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        response = await api.get(f"/api/calls/{call_id}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


async def create_call(stack: RunningStack, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/calls``: a call to be joined by a test's own provider client through its joinUrl."""
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        response = await api.post("/api/calls", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def heard_span_s(pcm: np.ndarray, rate_hz: int, threshold: int = 200) -> float:
    """From the first to the last sample above the threshold: how long the caller heard a continuous sound."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > threshold)
    return 0.0 if len(loud) == 0 else float(loud[-1] - loud[0] + 1) / rate_hz


def speech_8k(name: str) -> np.ndarray:
    """One of the demo's recorded prompts as a caller's speech at 8 kHz (Twilio's rate)."""
    pcm = np.frombuffer(prompt(name), dtype="<i2").astype(np.float64)
    return np.clip(np.round(pcm[:: DEMO_RATE_HZ // 8000]), -32768, 32767).astype(np.int16)


def loud_span_s(pcm: np.ndarray, rate_hz: int, threshold: int = 200) -> tuple[float, float]:
    """When the first and the last sample above the threshold are, in seconds from the start."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > threshold)
    return float(loud[0]) / rate_hz, float(loud[-1]) / rate_hz
