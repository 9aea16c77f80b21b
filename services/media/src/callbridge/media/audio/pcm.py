"""16-bit linear PCM (L16) framing helpers.

Providers disagree on byte order: raw PCM WebSocket streams (Exotel, Vonage, Genesys) send
little-endian s16le, while L16 in RTP payloads is big-endian by RFC 3551 §4.5.11. Inside the
media service PCM is always a native int16 numpy array.
"""

from typing import Final

import numpy as np
import numpy.typing as npt

FRAME_MS: Final = 20  # every provider we bridge packetizes 20 ms: 160 samples at 8 kHz
SAMPLE_WIDTH_BYTES: Final = 2

_S16LE: Final = np.dtype("<i2")
_S16BE: Final = np.dtype(">i2")


def samples_per_frame(rate_hz: int, frame_ms: int = FRAME_MS) -> int:
    """Samples in one frame: 20 ms at 8 kHz = 160, at 16 kHz = 320, at 48 kHz = 960."""
    samples, remainder = divmod(rate_hz * frame_ms, 1000)
    if rate_hz <= 0 or frame_ms <= 0 or remainder:
        raise ValueError(f"{frame_ms} ms at {rate_hz} Hz is not a whole number of samples")
    return samples


def pcm_from_bytes(data: bytes, *, big_endian: bool = False) -> npt.NDArray[np.int16]:
    """s16le (or s16be) bytes to native int16 samples.

    The little-endian result on a little-endian host is a read-only view of ``data`` (no copy):
    copy it before modifying it in place.
    """
    if len(data) % SAMPLE_WIDTH_BYTES:
        raise ValueError(f"16-bit PCM needs an even number of bytes, got {len(data)}")
    wire = np.frombuffer(data, dtype=_S16BE if big_endian else _S16LE)
    return wire.astype(np.int16, copy=False)


def pcm_to_bytes(pcm: npt.NDArray[np.int16], *, big_endian: bool = False) -> bytes:
    """Native int16 samples to s16le (or s16be) bytes."""
    if pcm.dtype != np.int16:
        raise TypeError(f"expected int16 PCM, got {pcm.dtype}")
    return pcm.astype(_S16BE if big_endian else _S16LE, copy=False).tobytes()
