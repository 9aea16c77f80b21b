"""Hold music: the WAV files callbridge decodes (and those it refuses with a reason), fetched from a real HTTP
server, and the default tone pattern."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port
from callbridge.media.hold import (
    MAX_HOLD_MUSIC_BYTES,
    HoldMusicError,
    decode_wav,
    hold_tone_pattern,
    load_hold_music,
)


def wav_bytes(samples: np.ndarray, rate_hz: int, *, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate_hz)
        writer.writeframes(samples.tobytes())
    return buffer.getvalue()


def tone(hz: float, seconds: float, rate_hz: int) -> np.ndarray:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    return (8000 * np.sin(2 * np.pi * hz * t)).astype("<i2")


def peak_hz(pcm: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate_hz)[int(np.argmax(spectrum))])


def test_a_16_bit_wav_at_another_rate_is_resampled_to_the_agents() -> None:
    pcm = decode_wav(wav_bytes(tone(500, 1.0, 8000), 8000), 16000)
    assert abs(len(pcm) - 16000) <= 64
    assert peak_hz(pcm, 16000) == pytest.approx(500, abs=5)


def test_stereo_and_8_bit_wavs_are_mixed_down_and_widened() -> None:
    mono = tone(300, 0.5, 16000)
    stereo = np.repeat(mono, 2)
    decoded = decode_wav(wav_bytes(stereo, 16000, channels=2), 16000)
    assert np.array_equal(decoded, mono)
    unsigned = ((mono // 256) + 128).astype(np.uint8)
    widened = decode_wav(wav_bytes(unsigned, 16000, width=1), 16000)
    assert peak_hz(widened, 16000) == pytest.approx(300, abs=5)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"ID3\x04\x00" + bytes(100), "only WAV hold music is supported"),
        (wav_bytes(tone(440, 0.2, 44100), 44100), "a WAV at 44100 Hz"),
        (wav_bytes(np.zeros(0, dtype="<i2"), 16000), "holds no audio"),
    ],
    ids=["mp3", "44k1", "empty"],
)
def test_what_cannot_be_played_is_refused_with_why(data: bytes, reason: str) -> None:
    with pytest.raises(HoldMusicError, match=reason):
        decode_wav(data, 16000)


def test_the_default_pattern_is_two_soft_tones_then_silence() -> None:
    period = hold_tone_pattern(8000)
    assert len(period) == 3 * 8000
    assert peak_hz(period[:3200], 8000) == pytest.approx(440, abs=10)
    assert peak_hz(period[3200:6400], 8000) == pytest.approx(554, abs=10)
    assert not period[6400:].any()
    assert np.abs(period).max() < 32767 * 10 ** (-23 / 20)  # −24 dBFS: gentle


async def test_a_wav_is_fetched_and_a_file_too_large_or_missing_is_refused() -> None:
    wav = wav_bytes(tone(600, 0.5, 16000), 16000)

    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "hold.wav":
            return Response(wav, media_type="audio/wav")
        if name == "big.wav":
            return Response(bytes(MAX_HOLD_MUSIC_BYTES + 1), media_type="audio/wav")
        return Response("no", status_code=404)

    port = free_port()
    app = Starlette(routes=[Route("/{name}", serve)])
    async with serve_asgi(app, "127.0.0.1", port):
        base = f"http://127.0.0.1:{port}"
        pcm = await load_hold_music(f"{base}/hold.wav", 16000)
        with pytest.raises(HoldMusicError, match="larger than 5 MB"):
            await load_hold_music(f"{base}/big.wav", 16000)
        with pytest.raises(HoldMusicError, match="HTTP 404"):
            await load_hold_music(f"{base}/gone.wav", 16000)
    assert peak_hz(pcm, 16000) == pytest.approx(600, abs=5)
    assert len(await load_hold_music(None, 16000)) == 3 * 16000
