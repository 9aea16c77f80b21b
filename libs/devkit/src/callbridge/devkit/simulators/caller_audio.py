"""The simulated caller's audio, encoded once into base64 frames in the provider's inbound format."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from callbridge.devkit.signals import read_wav
from callbridge.devkit.simulators.audio_codec import PCMU_8K, AudioCodec

__all__ = ["AudioSource", "CallerAudio", "caller_audio_for"]

DEFAULT_FRAME_MS = 20  # every provider's inbound packet (Exotel's can be 100 ms: §4.2)


@dataclass(frozen=True, slots=True)
class CallerAudio:
    """The caller's audio, encoded once into base64 frames; share one across many concurrent calls."""

    pcm: npt.NDArray[np.int16]
    payloads: tuple[bytes, ...]
    """Base64 of each frame, as ASCII bytes ready for the wire's message template; the last frame is padded
    with silence."""
    codec: AudioCodec = PCMU_8K
    frame_ms: int = DEFAULT_FRAME_MS
    silence_payload: bytes = b""
    """Base64 of one frame of silence, sent once the audio has run out."""

    @classmethod
    def from_pcm(
        cls, pcm: npt.NDArray[np.int16], codec: AudioCodec = PCMU_8K, frame_ms: int = DEFAULT_FRAME_MS
    ) -> CallerAudio:
        """Encode int16 mono PCM, already at ``codec``'s rate (μ-law 8 kHz by default, as Twilio sends)."""
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(
                f"caller audio must be 1-D int16 at {codec.sample_rate_hz} Hz, "
                f"got {pcm.dtype} with shape {pcm.shape}"
            )
        frame_samples = codec.samples(frame_ms / 1000)
        frame_bytes = frame_samples * codec.bytes_per_sample
        padding = -len(pcm) % frame_samples
        encoded = codec.encode(pcm) + codec.silence * padding
        payloads = tuple(
            base64.b64encode(encoded[start : start + frame_bytes])
            for start in range(0, len(encoded), frame_bytes)
        )
        silence = base64.b64encode(codec.silence * frame_samples)
        return cls(pcm=pcm, payloads=payloads, codec=codec, frame_ms=frame_ms, silence_payload=silence)

    @property
    def frame_s(self) -> float:
        return self.frame_ms / 1000

    @property
    def frame_samples(self) -> int:
        return self.codec.samples(self.frame_s)


AudioSource = npt.NDArray[np.int16] | CallerAudio | str | os.PathLike[str]
"""int16 mono PCM at the stream's inbound rate, audio already encoded with `CallerAudio.from_pcm`, or a WAV
file at that rate."""


def caller_audio_for(source: AudioSource, codec: AudioCodec, frame_ms: int = DEFAULT_FRAME_MS) -> CallerAudio:
    """``source`` as frames of ``codec``: the format the provider's `start` announces for inbound audio."""
    if isinstance(source, CallerAudio):
        if source.codec != codec or source.frame_ms != frame_ms:
            raise ValueError(
                f"caller audio is encoded as {source.codec} in {source.frame_ms} ms frames; "
                f"this stream sends {codec} in {frame_ms} ms frames"
            )
        return source
    if isinstance(source, np.ndarray):
        return CallerAudio.from_pcm(source, codec, frame_ms)
    pcm, rate_hz = read_wav(source)
    if rate_hz != codec.sample_rate_hz:
        raise ValueError(
            f"{os.fspath(source)}: WAV is {rate_hz} Hz; the simulator streams {codec.sample_rate_hz} Hz"
        )
    return CallerAudio.from_pcm(pcm, codec, frame_ms)
