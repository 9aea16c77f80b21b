"""The audio encodings the simulated providers carry: G.711 μ-law and A-law at 8 kHz, 16-bit linear PCM (L16).

Reference: /work/shared/reference/provider-protocols.md §0 (per-provider formats), §2.5 (Telnyx L16 byte order
undocumented), §3.4 (Plivo L16 little-endian), §4.4 (Exotel PCM16 LE).

G.711 is CPython's ``audioop`` (C, bit-exact with the ITU-T G.711 tables), on Python 3.13+ its maintained
port ``audioop-lts``; L16 is numpy's byte-order conversion. None of it is the media service's code: a
simulated provider that encoded with media's own tables would share any bug in them with the server under
test and hear nothing wrong. tests/devkit/test_audio_codec.py compares the two on every code and sample.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

if sys.version_info >= (3, 13):
    import audioop  # the audioop-lts distribution: the module as it left the standard library
else:
    with warnings.catch_warnings():
        # Deprecated since 3.11 (PEP 594) and kept for 3.11-3.12; 3.13+ takes audioop-lts above.
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

__all__ = ["PCMU_8K", "AudioCodec", "ByteOrder", "Encoding", "encoding_named"]

Encoding = Literal["PCMU", "PCMA", "L16"]
ByteOrder = Literal["little", "big"]
_ENCODINGS: dict[str, Encoding] = {"PCMU": "PCMU", "PCMA": "PCMA", "L16": "L16"}

_G711_RATE_HZ = 8000  # G.711 is defined at 8 kHz only
_SAMPLE_WIDTH_BYTES = 2  # audioop's linear side: native-endian int16
ULAW_SILENCE = 0xFF  # G.711 μ-law inverts every bit, so linear 0 idles at all ones
ALAW_SILENCE = 0xD5  # A-law inverts the even bits: the smallest positive level, 0x80 ^ 0x55
_L16_DTYPES = {"little": np.dtype("<i2"), "big": np.dtype(">i2")}


@dataclass(frozen=True, slots=True)
class AudioCodec:
    """One direction's wire format: an encoding, its sample rate and (for L16) its byte order."""

    encoding: Encoding
    sample_rate_hz: int
    byte_order: ByteOrder = "little"
    """L16 only; G.711 has one byte per sample."""

    def __post_init__(self) -> None:
        if self.encoding != "L16" and self.sample_rate_hz != _G711_RATE_HZ:
            raise ValueError(f"{self.encoding} runs at 8000 Hz only, got {self.sample_rate_hz}")
        # Every provider packetizes 20 ms; the rate must give whole samples per frame (8 kHz: 160).
        if self.sample_rate_hz <= 0 or self.sample_rate_hz % 50:
            raise ValueError(f"sample rate {self.sample_rate_hz} Hz gives no whole 20 ms frame")

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == "L16" else 1

    @property
    def silence(self) -> bytes:
        """One sample of silence as it goes on the wire (μ-law idles at 0xFF, A-law at 0xD5)."""
        if self.encoding == "PCMU":
            return bytes((ULAW_SILENCE,))
        if self.encoding == "PCMA":
            return bytes((ALAW_SILENCE,))
        return b"\x00\x00"

    def samples(self, duration_s: float) -> int:
        """Samples in ``duration_s`` at this rate (20 ms at 16 kHz: 320)."""
        return round(duration_s * self.sample_rate_hz)

    def duration_s(self, data_bytes: int) -> float:
        """How long ``data_bytes`` of this encoding play."""
        return data_bytes / (self.bytes_per_sample * self.sample_rate_hz)

    def encode(self, pcm: npt.NDArray[np.int16]) -> bytes:
        if pcm.dtype != np.int16:
            raise TypeError(f"{self.encoding} encodes int16 PCM, got {pcm.dtype}")
        if self.encoding == "PCMU":
            return audioop.lin2ulaw(pcm.tobytes(), _SAMPLE_WIDTH_BYTES)
        if self.encoding == "PCMA":
            return audioop.lin2alaw(pcm.tobytes(), _SAMPLE_WIDTH_BYTES)
        return pcm.astype(_L16_DTYPES[self.byte_order]).tobytes()

    def decode(self, data: bytes) -> npt.NDArray[np.int16]:
        """Wire bytes to int16 PCM; an odd trailing L16 byte is dropped (readers flag it as a violation)."""
        if self.encoding == "PCMU":
            linear = audioop.ulaw2lin(data, _SAMPLE_WIDTH_BYTES)
        elif self.encoding == "PCMA":
            linear = audioop.alaw2lin(data, _SAMPLE_WIDTH_BYTES)
        else:
            whole = len(data) - len(data) % 2
            return np.frombuffer(data[:whole], dtype=_L16_DTYPES[self.byte_order]).astype(np.int16)
        return np.frombuffer(linear, dtype=np.int16).copy()  # writable, as callers may scale it in place


PCMU_8K = AudioCodec("PCMU", 8000)
"""Twilio's only format (§1.2), Telnyx's default, Plivo's `audio/x-mulaw;rate=8000`."""


def encoding_named(name: str) -> Encoding | None:
    """``name`` as an `Encoding` (case-sensitive, as Telnyx's codec names are: §2.1), or None."""
    return _ENCODINGS.get(name)
