"""The caller's keys heard in band: the tones in the caller's audio are recognised on every provider's
stream and reach the agent by the same path as the provider's key events, and a key that comes both ways
(an event and its tones) is one key."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import REGISTRY

from callbridge.common.events import DtmfReceived
from callbridge.common.models.medium import Provider
from callbridge.media.audio.dtmf_tones import synthesize
from callbridge.media.caller_keys import DUPLICATE_WINDOW_S, CallerKeys
from tests.e2e.provider_client import CODECS
from tests.media.fakes import FakeAgent
from tests.media.sessions import CallRecords, new_call, running_session


class Keys:
    """A CallerKeys on a clock the test moves, recording what it passes on."""

    def __init__(self, rate_hz: int | None = None) -> None:
        self.now = 100.0
        self.pressed: list[str] = []
        self.keys = CallerKeys(self.pressed.append, lambda: self.now, rate_hz=rate_hz)

    def tone(self, digit: str) -> None:
        """The detector heard ``digit`` (its tones, fed through the detector)."""
        assert self.keys.in_band
        self.keys.on_audio(synthesize(digit, 8000, space_s=0.2))

    def event(self, digit: str) -> None:
        self.keys.on_event(digit)


def test_a_key_reported_and_heard_is_one_key_whichever_comes_first() -> None:
    keys = Keys(8000)
    keys.event("5")
    keys.tone("5")
    keys.now += 0.5
    keys.tone("7")
    keys.now += 0.2
    keys.event("7")
    assert keys.pressed == ["5", "7"]
    assert (keys.keys.duplicates, keys.keys.tones_detected) == (2, 2)


def test_a_key_pressed_twice_both_ways_is_two_keys() -> None:
    keys = Keys(8000)
    for _ in range(2):
        keys.tone("1")
        keys.now += 0.1
        keys.event("1")
        keys.now += 0.2
    assert keys.pressed == ["1", "1"]


def test_different_keys_and_keys_far_apart_are_not_paired() -> None:
    keys = Keys(8000)
    keys.event("1")
    keys.tone("2")
    keys.now += DUPLICATE_WINDOW_S + 0.1
    keys.tone("1")
    assert keys.pressed == ["1", "2", "1"]
    assert keys.keys.duplicates == 0


def test_events_alone_pass_through_and_without_a_rate_nothing_is_detected() -> None:
    keys = Keys(None)
    keys.keys.on_audio(synthesize("9", 8000))
    for digit in "123":
        keys.event(digit)
    assert keys.pressed == ["1", "2", "3"]
    assert not keys.keys.in_band


@pytest.mark.parametrize("provider", list(Provider), ids=[p.value for p in Provider])
async def test_keys_in_the_callers_audio_reach_the_agent_like_reported_keys(
    records: CallRecords, provider: Provider
) -> None:
    rate = CODECS[provider].sample_rate_hz
    agent = FakeAgent(8000)
    async with running_session(records, await new_call(records), agent, provider=provider) as run:
        run.provider.start()
        await run.started()
        speech_like = np.random.default_rng(3).normal(0, 2000, rate // 2).astype(np.int16)
        run.provider.send_audio(
            np.concatenate([speech_like, synthesize("42#", rate), np.zeros(rate // 5, dtype=np.int16)])
        )
        message = await agent.wait_for_message("user_text_message")
    assert message == {"type": "user_text_message", "text": "42#", "urgency": "immediate"}
    assert [event.digit for event in records.published.of(DtmfReceived)] == ["4", "2", "#"]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_key_both_reported_and_in_the_audio_reaches_the_agent_once(records: CallRecords) -> None:
    before = (
        sample("callbridge_media_dtmf_keys_total", source="event"),
        sample("callbridge_media_dtmf_keys_total", source="in_band"),
        sample("callbridge_media_dtmf_keys_both_ways_total"),
    )
    agent = FakeAgent(8000)
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.start()
        await run.started()
        run.provider.dtmf("8")  # Twilio reports the key and leaves its tones in the audio
        run.provider.send_audio(np.concatenate([synthesize("8", 8000), np.zeros(1600, dtype=np.int16)]))
        run.provider.dtmf("3")
        run.provider.send_audio(np.concatenate([synthesize("3", 8000), np.zeros(1600, dtype=np.int16)]))
        message = await agent.wait_for_message("user_text_message")
    assert message["text"] == "83"
    assert [event.digit for event in records.published.of(DtmfReceived)] == ["8", "3"]
    after = (
        sample("callbridge_media_dtmf_keys_total", source="event"),
        sample("callbridge_media_dtmf_keys_total", source="in_band"),
        sample("callbridge_media_dtmf_keys_both_ways_total"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 0, 2]
