"""Audio payload bytes to int16 PCM and back, for each codec a provider stream can carry.

A stream picks its decoder and encoder once, at ``start`` (or when a byte-order check corrects it), so the
per-frame path is one function call with no branching on the codec.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from callbridge.media.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from callbridge.media.audio.pcm import pcm_to_bytes
from callbridge.media.providers.base import ByteOrder, Codec, ProtocolError

Decoder = Callable[[bytes], npt.NDArray[np.int16]]
Encoder = Callable[[npt.NDArray[np.int16]], bytes]

BYTES_PER_SAMPLE = {Codec.PCMU: 1, Codec.PCMA: 1, Codec.L16: 2}

_S16LE = np.dtype("<i2")
_S16BE = np.dtype(">i2")


def _l16le_decode(data: bytes) -> npt.NDArray[np.int16]:
    if len(data) & 1:
        raise ProtocolError(f"L16 payload of {len(data)} bytes (16-bit samples need an even count)")
    # On a little-endian host this is a read-only view of the payload, no copy.
    return np.frombuffer(data, dtype=_S16LE).astype(np.int16, copy=False)


def _l16be_decode(data: bytes) -> npt.NDArray[np.int16]:
    if len(data) & 1:
        raise ProtocolError(f"L16 payload of {len(data)} bytes (16-bit samples need an even count)")
    return np.frombuffer(data, dtype=_S16BE).astype(np.int16)


def _l16le_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    return pcm_to_bytes(pcm)


def _l16be_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    return pcm_to_bytes(pcm, big_endian=True)


def max_payload_chars(codec: Codec, rate_hz: int, ms: int) -> int:
    """The base64 length of ``ms`` of audio in ``codec`` at ``rate_hz``: the bound on a media payload."""
    size = rate_hz * ms // 1000 * BYTES_PER_SAMPLE[codec]
    return 4 * -(-size // 3)


def decoder(codec: Codec, byte_order: ByteOrder = "little") -> Decoder:
    if codec is Codec.PCMU:
        return ulaw_decode
    if codec is Codec.PCMA:
        return alaw_decode
    return _l16be_decode if byte_order == "big" else _l16le_decode


def encoder(codec: Codec, byte_order: ByteOrder = "little") -> Encoder:
    if codec is Codec.PCMU:
        return ulaw_encode
    if codec is Codec.PCMA:
        return alaw_encode
    return _l16be_encode if byte_order == "big" else _l16le_encode


def not_started(pcm: npt.NDArray[np.int16]) -> bytes:
    """The encoder of a stream whose ``start`` has not arrived: there is no format to encode in yet
    (the session starts its playout only after ``start``, so this is a bug, not bad input)."""
    raise RuntimeError("outbound media before the stream's start")
