"""The simulators' audio formats without a network: codecs per provider, caller frames, L16 playout."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from callbridge.devkit.signals import tone
from callbridge.devkit.simulators.audio_codec import PCMU_8K, AudioCodec
from callbridge.devkit.simulators.caller_audio import CallerAudio, caller_audio_for
from callbridge.devkit.simulators.playout import PlayoutBuffer


@pytest.mark.parametrize(("byte_order", "first_bytes"), [("big", b"\x12\x34"), ("little", b"\x34\x12")])
def test_l16_codec_writes_the_configured_byte_order_and_round_trips(
    byte_order: str, first_bytes: bytes
) -> None:
    codec = AudioCodec("L16", 16000, "big" if byte_order == "big" else "little")
    pcm = np.array([0x1234, -2, 32767, -32768], dtype=np.int16)

    encoded = codec.encode(pcm)

    assert encoded[:2] == first_bytes
    assert np.array_equal(codec.decode(encoded), pcm)
    assert codec.silence == b"\x00\x00"
    assert codec.duration_s(640) == pytest.approx(0.020)


def test_g711_codecs_are_8_khz_only_and_idle_at_their_silence_codes() -> None:
    assert PCMU_8K.silence == b"\xff"
    assert AudioCodec("PCMA", 8000).silence == b"\xd5"
    with pytest.raises(ValueError, match="8000 Hz only"):
        AudioCodec("PCMU", 16000)
    with pytest.raises(ValueError, match="20 ms"):
        AudioCodec("L16", 11025)


def test_caller_audio_frames_follow_codec_and_frame_length() -> None:
    codec = AudioCodec("L16", 16000)
    pcm = tone(300.0, 0.25, 16000)

    audio = CallerAudio.from_pcm(pcm, codec, frame_ms=100)

    frames = [base64.b64decode(payload) for payload in audio.payloads]
    assert [len(frame) for frame in frames] == [3200, 3200, 3200]  # the last padded with silence
    assert frames[2][1600:] == bytes(1600)
    assert base64.b64decode(audio.silence_payload) == bytes(3200)
    assert caller_audio_for(audio, codec, 100) is audio
    with pytest.raises(ValueError, match="20 ms frames"):
        caller_audio_for(audio, codec, 20)


def test_playout_counts_l16_in_samples_and_cuts_on_clear() -> None:
    playout: PlayoutBuffer[str] = PlayoutBuffer(tick_samples=320, silence=b"\x00\x00")

    playout.enqueue_audio(0, b"\x01\x00" * 640 + b"\x07")  # 40 ms at 16 kHz and a stray half sample
    assert playout.buffered_samples(0) == 640
    assert not playout.enqueue_mark(0, "end")
    assert playout.clear(320) == ["end"]

    heard = playout.heard_bytes(400)
    assert heard == b"\x01\x00" * 320 + b"\x00\x00" * 80


def test_playout_counts_what_played_less_what_a_clear_or_the_end_cut() -> None:
    playout: PlayoutBuffer[str] = PlayoutBuffer(record_heard=False)  # μ-law at 8 kHz, 160-sample ticks

    playout.enqueue_audio(0, bytes(3200))  # 400 ms from 0
    playout.clear(1200)  # cut at 150 ms
    playout.enqueue_audio(4000, bytes(1600))  # 200 ms from 500 ms, in full
    playout.enqueue_audio(8000, bytes(1600))  # 200 ms from 1 s, cut by the end at 1.05 s
    playout.end(8400)

    assert playout.played_samples == 1200 + 1600 + 400


def test_playout_cut_before_the_first_tick_counts_nothing_played() -> None:
    playout: PlayoutBuffer[str] = PlayoutBuffer(record_heard=False)

    playout.enqueue_audio(10, bytes(800))  # starts on the tick at 160
    playout.clear(100)

    assert playout.played_samples == 0
