"""Agent audio in real-time bursts reaches the caller without inserted silence, on every provider, and the
last part of an utterance plays promptly when the agent stops."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import numpy.typing as npt
import pytest

from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import tone
from callbridge.devkit.stack import RunningStack
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import create_call
from tests.e2e.provider_client import CODECS, provider_client

# Outbound frames without a medium on the call: 20 ms, Exotel 200 ms (its minimum chunk at 8 kHz).
FRAME_S = {Provider.TWILIO: 0.02, Provider.TELNYX: 0.02, Provider.PLIVO: 0.02, Provider.EXOTEL: 0.2}
HEAD_S = 0.4  # the agent's first chunk: more than a 200 ms frame plus the bursts' jitter ahead
JITTER_S = 0.03
SPEECH_S = 2.0


def expected_at_caller(provider: Provider, pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """What the caller should hear of ``pcm`` (at the provider's rate): itself, through μ-law for Twilio."""
    codec = CODECS[provider]
    return codec.decode(codec.encode(pcm))


def agent_backend(agent_url: str, provider: Provider) -> dict[str, object]:
    rate = CODECS[provider].sample_rate_hz
    return {"websocket": {"url": agent_url, "inputSampleRate": rate}}


@pytest.mark.parametrize("provider", list(Provider))
async def test_agent_audio_in_real_time_bursts_gets_no_inserted_silence(
    stack: RunningStack, provider: Provider
) -> None:
    rate = CODECS[provider].sample_rate_hz
    speech = tone(440.0, SPEECH_S, rate, -12.0)
    stopped_at: list[float] = []

    async def stream_in_real_time(peer: AgentPeer) -> None:
        """Like a TTS keeping up with real time: a first chunk ahead, then 10-200 ms bursts, each sent up to
        30 ms after it is due (the waits are the agent's own pacing, the behaviour under test)."""
        rng = random.Random(7)
        await peer.wait_for_audio()  # the call is live
        loop = asyncio.get_running_loop()
        began = loop.time()
        sent = int(HEAD_S * rate)
        await peer.send_audio(speech[:sent].tobytes())
        while sent < len(speech):
            burst = rng.randint(10, 200) * rate // 1000
            due = began + (sent + burst) / rate - HEAD_S + rng.uniform(0.0, JITTER_S)
            await asyncio.sleep(max(0.0, due - loop.time()))
            await peer.send_audio(speech[sent : sent + burst].tobytes())
            sent += burst
        stopped_at.append(loop.time())

    async with agent_server(stream_in_real_time) as (agent_url, _):
        call = await create_call(stack, {"agentBackend": agent_backend(agent_url, provider)})
        async with provider_client(call["joinUrl"], provider) as client:
            await client.send_audio(np.zeros(rate // 50, dtype=np.int16))
            frame = round(FRAME_S[provider] * rate)
            padded_len = -(-len(speech) // frame) * frame
            heard = await client.wait_for_audio(padded_len, timeout_s=SPEECH_S + 5.0)
            await client.stop()
    # Nothing inserted: the caller heard the agent's audio sample for sample, then the one padded tail.
    np.testing.assert_array_equal(heard[: len(speech)], expected_at_caller(provider, speech))
    assert len(heard) == padded_len
    assert not heard[len(speech) :].any()
    # And promptly: the tail left at most a frame after the audio queued ahead of it had played.
    (stopped,) = stopped_at
    last_at = client.audio_at[-1][0]
    assert last_at - stopped <= HEAD_S + FRAME_S[provider] + 0.15, f"tail {last_at - stopped:.3f} s late"


@pytest.mark.parametrize("provider", list(Provider))
async def test_a_short_utterance_plays_within_a_frame_of_the_agent_stopping(
    stack: RunningStack, provider: Provider
) -> None:
    rate = CODECS[provider].sample_rate_hz
    utterance = tone(440.0, 0.13, rate, -12.0)  # not a whole number of frames anywhere
    sent_at: list[float] = []

    async def say_a_word(peer: AgentPeer) -> None:
        await peer.wait_for_audio()
        sent_at.append(asyncio.get_running_loop().time())
        await peer.send_audio(utterance.tobytes())

    async with agent_server(say_a_word) as (agent_url, _):
        call = await create_call(stack, {"agentBackend": agent_backend(agent_url, provider)})
        async with provider_client(call["joinUrl"], provider) as client:
            await client.send_audio(np.zeros(rate // 50, dtype=np.int16))
            heard = await client.wait_for_audio(len(utterance))
            await client.stop()
    np.testing.assert_array_equal(heard[: len(utterance)], expected_at_caller(provider, utterance))
    (said,) = sent_at
    # 130 ms of audio: its last part is due when the first 120 ms (Exotel: nothing yet) have played and one
    # frame more has passed, never held for the next utterance.
    assert client.audio_at[-1][0] - said <= 0.13 + FRAME_S[provider] + 0.15
