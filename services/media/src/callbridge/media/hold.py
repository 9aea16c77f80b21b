"""Hold music for a caller waiting on a warm transfer: a WAV from ``holdMusicUrl`` or a generated tone
pattern, played through the agent's audio path (framer and playout) while the agent's own audio is kept back.

A WAV is fetched once (at most ``MAX_HOLD_MUSIC_BYTES``, within ``FETCH_TIMEOUT_S``), decoded with the
standard library's ``wave`` (PCM 8, 16, 24 or 32 bit, mono or stereo, mixed down) and resampled to the agent's
output rate with the live path's resampler, once; anything else (MP3, a rate the resampler does not take, a
file too large) is refused with a message for the agent's tool result. Without a URL the caller hears a
gentle pattern: two soft tones (440 Hz then 554 Hz, 0.4 s each, −24 dBFS) every 3 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import wave
from collections.abc import Callable, Coroutine
from typing import Any, Final

import httpx
import numpy as np
import numpy.typing as npt

from callbridge.media.agent_audio import AgentAudioFramer
from callbridge.media.audio.resampler import SUPPORTED_RATES_HZ, create_resampler
from callbridge.media.clock import Clock
from callbridge.media.playout import Playout

MAX_HOLD_MUSIC_BYTES: Final = 5 * 1024 * 1024
"""As Ultravox's ``holdMusicUrl``: at most 5 MB."""
FETCH_TIMEOUT_S: Final = 5.0
CHUNK_S: Final = 0.2
"""Hold audio is pushed in chunks of this length, ..."""
AHEAD_S: Final = 0.6
"""... while less than this much of it is waiting to be played: a clear stops it at once."""
TONE_DBFS: Final = -24.0
PATTERN_S: Final = 3.0


class HoldMusicError(ValueError):
    """Hold music that cannot be played; the message says why."""


def hold_tone_pattern(rate_hz: int) -> npt.NDArray[np.int16]:
    """One period of the default hold pattern at ``rate_hz``: two soft tones, then silence."""
    amplitude = 32767 * 10 ** (TONE_DBFS / 20)
    tone_samples = int(0.4 * rate_hz)
    t = np.arange(tone_samples) / rate_hz
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)  # 20 ms ramps: no clicks
    first = amplitude * fade * np.sin(2 * math.pi * 440.0 * t)
    second = amplitude * fade * np.sin(2 * math.pi * 554.37 * t)
    period = np.zeros(int(PATTERN_S * rate_hz))
    period[:tone_samples] = first
    period[tone_samples : 2 * tone_samples] = second
    return period.astype(np.int16)


def decode_wav(data: bytes, rate_hz: int) -> npt.NDArray[np.int16]:
    """A WAV file as mono int16 at ``rate_hz``; HoldMusicError when it is not one callbridge decodes."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            channels, width, file_rate_hz = (
                reader.getnchannels(),
                reader.getsampwidth(),
                reader.getframerate(),
            )
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise HoldMusicError(f"not a PCM WAV file ({exc}); only WAV hold music is supported") from None
    if width not in (1, 2, 3, 4) or channels not in (1, 2):
        raise HoldMusicError(f"{channels} channels of {8 * width} bits: mono or stereo PCM only")
    if file_rate_hz not in SUPPORTED_RATES_HZ:
        rates = ", ".join(str(rate) for rate in SUPPORTED_RATES_HZ)
        raise HoldMusicError(f"a WAV at {file_rate_hz} Hz: hold music must be at {rates} Hz")
    samples = _to_int16(frames, width)
    if channels == 2:
        samples = samples[: len(samples) // 2 * 2].reshape(-1, 2).mean(axis=1).astype(np.int16)
    if not len(samples):
        raise HoldMusicError("the WAV file holds no audio")
    if file_rate_hz == rate_hz:
        return samples
    return create_resampler(file_rate_hz, rate_hz).process(samples)


def _to_int16(frames: bytes, width: int) -> npt.NDArray[np.int16]:
    if width == 1:  # unsigned 8-bit
        return ((np.frombuffer(frames, dtype=np.uint8).astype(np.int16) - 128) * 256).astype(np.int16)
    if width == 2:
        return np.frombuffer(frames, dtype="<i2").astype(np.int16)
    if width == 3:
        raw = np.frombuffer(frames[: len(frames) // 3 * 3], dtype=np.uint8).reshape(-1, 3)
        return (raw[:, 2].astype(np.int8).astype(np.int16) << 8 | raw[:, 1]).astype(np.int16)
    return (np.frombuffer(frames, dtype="<i4") >> 16).astype(np.int16)


async def load_hold_music(url: str | None, rate_hz: int) -> npt.NDArray[np.int16]:
    """The hold audio at ``rate_hz``: the URL's WAV, or the tone pattern; HoldMusicError with why not."""
    if url is None:
        return hold_tone_pattern(rate_hz)
    try:
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise HoldMusicError(f"fetching it answered HTTP {response.status_code}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_HOLD_MUSIC_BYTES:
                    raise HoldMusicError(f"larger than {MAX_HOLD_MUSIC_BYTES // 1024 // 1024} MB")
    except httpx.HTTPError as exc:
        raise HoldMusicError(f"it could not be fetched: {type(exc).__name__}") from None
    return decode_wav(bytes(data), rate_hz)


class HoldPlayer:
    """Plays ``audio`` (agent-rate int16) over and over through the framer until stopped."""

    def __init__(
        self, audio: npt.NDArray[np.int16], framer: AgentAudioFramer, playout: Playout, clock: Clock
    ):
        self._audio = audio
        self._framer = framer
        self._playout = playout
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.pushed_s = 0.0

    def start(self, spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]) -> None:
        """Start playing, as one of the call's tasks (cancelled when the call ends)."""
        self._task = spawn(self._run(), "hold-music")

    async def stop(self) -> None:
        """The music stops at once: what was sent is cleared at the provider."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._framer.clear()
        await self._playout.clear()

    async def _run(self) -> None:
        rate_hz = self._framer.agent_rate_hz
        chunk = max(1, int(CHUNK_S * rate_hz))
        audio = self._audio if len(self._audio) >= chunk else np.resize(self._audio, chunk)
        position = 0
        frame_s = self._playout.frame_ms / 1000
        while True:
            waiting_s = self._playout.ahead_s + self._playout.queued_frames * frame_s
            if waiting_s > AHEAD_S:
                await self._clock.sleep(CHUNK_S / 2)
                continue
            piece = audio[position : position + chunk]
            if len(piece) < chunk:
                piece = np.concatenate([piece, audio[: chunk - len(piece)]])
            position = (position + chunk) % len(audio)
            await self._framer.push(piece.astype("<i2").tobytes())
            self.pushed_s += CHUNK_S
