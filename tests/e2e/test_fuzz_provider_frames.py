"""10,000 mutated provider messages on a live call, per provider: no call is lost.

The fuzzed call keeps its stream (valid media still reaches the agent and comes back, in the right byte
order), and a healthy call on the same media process loses no frame meanwhile. The messages come from a
seeded mutator (fuzz.py), so a failure reproduces with the same seed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pytest

from callbridge.common.events import CallEnded, MediaFormatNotice, MediaFramesRejected
from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import sinad_db, tone
from callbridge.devkit.simulators.plivo_wire import PlivoWire
from callbridge.devkit.simulators.telnyx_wire import TelnyxStreamError, TelnyxWire
from callbridge.devkit.stack import RunningStack
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.fuzz import ProviderFrameFuzzer
from tests.e2e.helpers import create_call, events_of, get_call
from tests.e2e.provider_client import CODECS, ProviderClient, provider_client

MESSAGES = 10_000
SEED = 6
MAX_MESSAGE_BYTES = 256 * 1024  # the media service's default CALLBRIDGE_MAX_MESSAGE_BYTES
TONE_HZ = 1000.0


def templates(client: ProviderClient) -> list[dict[str, Any]]:
    """Every kind of message the provider sends, as it sends them."""
    wire = client.wire
    frame = tone(TONE_HZ, 0.02, client.codec.sample_rate_hz, -20.0)
    sent: list[bytes | None] = [
        *wire.opening(),
        wire.dtmf("5"),
        wire.mark_echo("0.1", cleared=False),
        wire.stop(),  # only ever sent mutated: the fuzzer renames a well-formed stop's event
    ]
    if isinstance(wire, PlivoWire):
        sent.append(wire.clear_ack())
    messages: list[dict[str, Any]] = [orjson.loads(data) for data in sent if data is not None]
    messages.append(client.media_message(frame))
    if isinstance(wire, TelnyxWire):
        messages.append(wire.error_frame(TelnyxStreamError.malformed_frame()))
    return messages


async def caller_in_real_time(client: ProviderClient, until: asyncio.Event) -> npt.NDArray[np.int16]:
    """A healthy caller: 20 ms frames on the provider's clock until ``until``; what it sent. Its audio
    never has a zero sample (nor one μ-law rounds to zero), so silence the playout adds is told apart."""
    rate = client.codec.sample_rate_hz
    signal = (np.abs(tone(TONE_HZ, 120.0, rate, -10.0)) + 200).astype(np.int16)
    step = rate // 50
    loop = asyncio.get_running_loop()
    began = loop.time()
    sent = 0
    while not until.is_set():
        await client.send(client.media_message(signal[sent : sent + step]))
        sent += step
        await asyncio.sleep(max(0.0, began + sent / rate - loop.time()))  # the provider's 20 ms clock
    return signal[:sent]


async def send_unnumbered(client: ProviderClient, pcm: npt.NDArray[np.int16]) -> None:
    """``pcm`` as valid 20 ms media frames. Fuzzed sequence numbers may have moved Telnyx's reorder window
    anywhere; unnumbered media is passed straight through, which is what a probe needs."""
    step = client.codec.sample_rate_hz // 50
    for start in range(0, len(pcm), step):
        message = client.media_message(pcm[start : start + step])
        message.pop("sequence_number", None)
        await client.send(message)


async def start_echoing(client: ProviderClient, agent: AgentPeer, echoing: asyncio.Event) -> None:
    """Let the agent echo from now on, once everything the fuzz sent it has arrived (so that only the
    probe comes back): a marker frame is sent and awaited at the agent."""
    rate = client.codec.sample_rate_hz
    marker = (np.arange(rate // 50) * 97 % 2000 - 1000).astype(np.int16)
    await send_unnumbered(client, marker)
    await agent.wait_for_audio_ending(
        client.codec.decode(client.codec.encode(marker)).astype("<i2").tobytes()
    )
    echoing.set()


async def probe_echo(client: ProviderClient) -> float:
    """Send a tone as valid media; the SINAD of what comes back of it."""
    rate = client.codec.sample_rate_hz
    probe = tone(TONE_HZ, 0.4, rate, -10.0)
    before = len(client.audio) // client.codec.bytes_per_sample
    await send_unnumbered(client, probe)
    heard = await client.wait_for_audio(before + len(probe))
    echoed = heard[before:][rate // 50 : len(probe) - rate // 50]
    return sinad_db(echoed, TONE_HZ, rate)


@pytest.mark.parametrize("provider", list(Provider))
async def test_ten_thousand_mutated_messages_lose_no_call(
    stack: RunningStack, nats_url: str, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    rate = CODECS[provider].sample_rate_hz
    echoing = asyncio.Event()
    async with agent_server(echo_when=echoing) as (agent_url, agents):
        fuzzed_call = await create_call(
            stack, {"agentBackend": {"websocket": {"url": agent_url, "inputSampleRate": rate}}}
        )
        healthy_call = await create_call(stack, {"agentBackend": {"echo": {"sampleRate": rate}}})
        async with (
            provider_client(fuzzed_call["joinUrl"], provider, 0) as fuzzed,
            provider_client(healthy_call["joinUrl"], provider, 1) as healthy,
        ):
            fuzz_done = asyncio.Event()
            caller = asyncio.create_task(caller_in_real_time(healthy, fuzz_done), name="healthy-caller")
            fuzzer = ProviderFrameFuzzer(
                templates(fuzzed),
                seed=SEED + list(Provider).index(provider),
                max_message_bytes=MAX_MESSAGE_BYTES,
            )
            with caplog.at_level(logging.ERROR, logger="callbridge.media"):
                try:
                    for frame in fuzzer.frames(MESSAGES):
                        await fuzzed.send(frame.data, text=frame.text)
                finally:
                    fuzz_done.set()
                    sent = await caller
                # The fuzzed call is alive: its stream open, its record not ended, and valid media still
                # goes to the agent and back, in the byte order it had.
                assert not fuzzed.closed
                assert (await get_call(stack, fuzzed_call["callId"]))["ended"] is None
                await start_echoing(fuzzed, agents[0], echoing)
                sinad = await probe_echo(fuzzed)
                assert sinad >= (30.0 if provider is Provider.TWILIO else 70.0), (
                    f"echo after fuzz {sinad:.1f} dB"
                )
                # The healthy call lost no frame: all of its audio came back, sample for sample, in order.
                # (Its caller shares this test's loop with the fuzzer, which can hold its frames back past
                # the point where the playout pads a part-filled Exotel frame: silence, but nothing lost.)
                codec = CODECS[provider]
                heard = await healthy.wait_for_audio(len(sent))
                while np.count_nonzero(heard) < len(sent):
                    heard = await healthy.wait_for_audio(len(heard) + 1)
                audio_heard = heard[heard != 0]
                np.testing.assert_array_equal(audio_heard[: len(sent)], codec.decode(codec.encode(sent)))
                await fuzzed.stop()
                await healthy.stop()
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert not errors, [r.getMessage() for r in errors[:5]]
    events = await events_of(nats_url, fuzzed_call["callId"])
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup", ended.detail
    assert 0 < ended.rejected_frames < MESSAGES
    reports = [e for e in events if isinstance(e, MediaFramesRejected)]
    assert 1 <= len(reports) <= 5 + 3, len(reports)  # rate-limited: a burst of 5, then one per 10 s
    assert not [e for e in events if isinstance(e, MediaFormatNotice)]
    healthy_ended = (await events_of(nats_url, healthy_call["callId"]))[-1]
    assert isinstance(healthy_ended, CallEnded)
    assert healthy_ended.rejected_frames == 0
