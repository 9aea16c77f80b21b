"""The simulators' audio codec is not the media service's, and the two agree: each checks the other.

A simulated provider that encoded and decoded with media's own tables would share any bug in them with the
server under test, and the round trip would still sound right. So the devkit has its own G.711 and L16, and
this compares the two on every G.711 code and every 16-bit sample value.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from callbridge.devkit.simulators.audio_codec import AudioCodec, ByteOrder, Encoding
from callbridge.media.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from callbridge.media.audio.pcm import pcm_from_bytes, pcm_to_bytes

ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
MEDIA_G711 = {"PCMU": (ulaw_encode, ulaw_decode), "PCMA": (alaw_encode, alaw_decode)}


def test_the_simulators_import_nothing_of_the_media_service() -> None:
    code = (
        "import sys\n"
        "import callbridge.devkit.simulators.exotel, callbridge.devkit.simulators.plivo\n"
        "import callbridge.devkit.simulators.telnyx, callbridge.devkit.simulators.twilio\n"
        "print(sorted(name for name in sys.modules if name.startswith('callbridge.media')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("encoding", ["PCMU", "PCMA"])
def test_devkit_and_media_g711_decode_every_code_alike(encoding: Encoding) -> None:
    media_decode = MEDIA_G711[encoding][1]
    assert np.array_equal(AudioCodec(encoding, 8000).decode(ALL_CODES), media_decode(ALL_CODES))


@pytest.mark.parametrize("encoding", ["PCMU", "PCMA"])
def test_devkit_and_media_g711_encode_every_sample_alike(encoding: Encoding) -> None:
    media_encode = MEDIA_G711[encoding][0]
    assert AudioCodec(encoding, 8000).encode(ALL_SAMPLES) == media_encode(ALL_SAMPLES)


@pytest.mark.parametrize(("encoding", "silence_code"), [("PCMU", 0xFF), ("PCMA", 0xD5)])
def test_g711_silence_and_full_scale_have_their_published_codes(
    encoding: Encoding, silence_code: int
) -> None:
    # G.711 Tables 1 and 2: μ-law 0 is 0xFF and full scale 0x80 / 0x00; A-law's smallest positive
    # step is 0xD5 and full scale 0xAA / 0x2A. Published values, so a bug both codecs shared shows here.
    codec = AudioCodec(encoding, 8000)
    full_scale = (0x80, 0x00) if encoding == "PCMU" else (0xAA, 0x2A)
    assert codec.silence == bytes((silence_code,))
    assert codec.encode(np.array([0, 32767, -32768], dtype=np.int16)) == bytes((silence_code, *full_scale))


@pytest.mark.parametrize("byte_order", ["little", "big"])
def test_devkit_and_media_l16_agree_on_every_sample(byte_order: ByteOrder) -> None:
    codec = AudioCodec("L16", 16000, byte_order)
    big_endian = byte_order == "big"

    encoded = codec.encode(ALL_SAMPLES)

    assert encoded == pcm_to_bytes(ALL_SAMPLES, big_endian=big_endian)
    assert np.array_equal(codec.decode(encoded), pcm_from_bytes(encoded, big_endian=big_endian))
    assert np.array_equal(codec.decode(encoded), ALL_SAMPLES)
