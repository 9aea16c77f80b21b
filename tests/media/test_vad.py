"""The voice-activity detector against labelled audio: speech must start a turn, noise and music must not.

Figures (printed; ``pytest -s`` shows them): detection rate over the speech clips, clean and with white
noise at 10 and 5 dB SNR, at the telephone rates; false-trigger rate over the noise and music clips; the onset
latency after speech starts.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from callbridge.common.models.conversation import VadSettings
from callbridge.media.vad import FRAME_MS, MIN_ONSET_MS, SpeechChange, SpeechDetector, VadTuning
from tests.media.labelled_audio import Int16Array, non_speech, speech, speech_start_s, with_noise

FRAME_20MS = 0.020


def changes(pcm: Int16Array, rate_hz: int, tuning: VadTuning) -> list[tuple[float, SpeechChange]]:
    """Feed ``pcm`` in 20 ms provider frames; each change with the time its frame ended."""
    detector = SpeechDetector(tuning, rate_hz)
    step = int(rate_hz * FRAME_20MS)
    found = []
    for start in range(0, len(pcm) - step + 1, step):
        change = detector.feed(pcm[start : start + step])
        if change is not None:
            found.append(((start + step) / rate_hz, change))
    return found


def onset_s(pcm: Int16Array, rate_hz: int, tuning: VadTuning) -> float | None:
    return next((at for at, change in changes(pcm, rate_hz, tuning) if change is SpeechChange.STARTED), None)


@pytest.mark.parametrize("rate_hz", [8000, 16000])
def test_speech_starts_a_turn_clean_and_in_noise_soon_after_it_starts(rate_hz: int) -> None:
    tuning = VadTuning()
    clips = speech(rate_hz)
    latencies: dict[float | None, list[float]] = {}
    missed: dict[float | None, list[str]] = {}
    for snr in (None, 10.0, 5.0):
        latencies[snr], missed[snr] = [], []
        for name, pcm in clips.items():
            audio = pcm if snr is None else with_noise(pcm, snr)
            # Half a second of line silence before the speech: the detector is listening when it starts.
            audio = np.concatenate((np.zeros(rate_hz // 2, dtype=np.int16), audio))
            at = onset_s(audio, rate_hz, tuning)
            if at is None:
                missed[snr].append(name)
            else:
                latencies[snr].append(at - 0.5 - speech_start_s(pcm, rate_hz))
    for snr in latencies:
        found = latencies[snr]
        print(
            f"\nVAD at {rate_hz} Hz, {'clean' if snr is None else f'{snr:.0f} dB SNR'}: detection rate "
            f"{len(found) / len(clips):.0%} of {len(clips)} speech clips, onset latency p50 "
            f"{np.median(found) * 1000:.0f} ms, max {max(found) * 1000:.0f} ms"
            + (f" (missed {', '.join(missed[snr])})" if missed[snr] else "")
        )
    assert missed[None] == []
    assert missed[10.0] == []
    assert len(missed[5.0]) <= len(clips) // 5  # noise as loud as the speech, nearly: most still heard
    # Onset needs MIN_ONSET_MS of speech frames: it cannot come before that, and comes well within a word.
    heard = latencies[None] + latencies[10.0]
    assert min(heard) >= MIN_ONSET_MS / 1000 - FRAME_MS / 1000
    assert max(heard) < 0.400


@pytest.mark.parametrize("rate_hz", [8000, 16000])
def test_noise_and_music_do_not_start_a_turn(rate_hz: int) -> None:
    clips = non_speech(rate_hz)
    triggered = [name for name, pcm in clips.items() if onset_s(pcm, rate_hz, VadTuning()) is not None]
    print(
        f"\nVAD at {rate_hz} Hz: false-trigger rate {len(triggered) / len(clips):.0%} of {len(clips)} "
        f"noise/music clips of 10 s ({', '.join(triggered) or 'none'})"
    )
    assert triggered == []


def test_frame_activation_threshold_decides_what_counts_as_speech() -> None:
    """At Ultravox's default of 0.1 (not callbridge's), music on hold starts a turn; at 0.4 it does not."""
    music = non_speech(8000)["music -15 dBFS"]
    assert onset_s(music, 8000, VadTuning()) is None
    assert onset_s(music, 8000, VadTuning.from_settings(VadSettings(frame_activation_threshold=0.1)))


def test_minimum_turn_duration_delays_the_onset_and_drops_short_speech() -> None:
    clip = speech(8000)["greeting"]
    default = onset_s(clip, 8000, VadTuning())
    longer = onset_s(
        clip, 8000, VadTuning.from_settings(VadSettings(minimum_turn_duration=timedelta(seconds=0.64)))
    )
    assert default is not None
    assert longer is not None
    # Twenty 32 ms frames instead of three: at least half a second later (gaps between words only add).
    assert longer - default >= 0.64 - MIN_ONSET_MS / 1000 - 0.05
    digit = speech(8000)["digit_1"]  # a single word, about 0.4 s
    assert onset_s(digit, 8000, VadTuning()) is not None
    long_turn = VadTuning.from_settings(VadSettings(minimum_turn_duration=timedelta(seconds=2)))
    assert onset_s(digit, 8000, long_turn) is None


@pytest.mark.parametrize("endpoint_s", [0.384, 1.0])
def test_the_turn_ends_after_turn_endpoint_delay_of_silence(endpoint_s: float) -> None:
    rate_hz = 8000
    digit = speech(rate_hz)["digit_5"]
    loud = np.flatnonzero(np.abs(digit.astype(np.int32)) > 200)
    speech_end_s = float(loud[-1]) / rate_hz
    audio = np.concatenate((digit, np.zeros(3 * rate_hz, dtype=np.int16)))
    tuning = VadTuning.from_settings(VadSettings(turn_endpoint_delay=timedelta(seconds=endpoint_s)))
    found = changes(audio, rate_hz, tuning)
    assert [change for _, change in found] == [SpeechChange.STARTED, SpeechChange.STOPPED]
    stopped_after = found[1][0] - speech_end_s
    # The endpoint counts from the last speech frame (the model's probability decays over a frame or two).
    assert endpoint_s - 0.05 <= stopped_after <= endpoint_s + 0.2, f"stopped {stopped_after:.3f} s after"


def test_durations_are_counted_in_whole_32_ms_frames() -> None:
    tuning = VadTuning.from_settings(
        VadSettings(
            turn_endpoint_delay=timedelta(seconds=0.4),
            minimum_turn_duration=timedelta(seconds=0.2),
            frame_activation_threshold=0.7,
        )
    )
    assert tuning == VadTuning(threshold=0.7, onset_frames=7, endpoint_frames=13)
    assert VadTuning.from_settings(None) == VadTuning(threshold=0.4, onset_frames=3, endpoint_frames=12)


def test_line_silence_costs_no_model_run() -> None:
    detector = SpeechDetector(VadTuning(), 8000)
    silence = non_speech(8000)["line silence -65 dBFS"]
    for start in range(0, len(silence), 160):
        assert detector.feed(silence[start : start + 160]) is None
    assert detector.frames_seen == len(silence) * 2 // 512
    assert detector.frames_scored == 0
