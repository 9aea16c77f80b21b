"""Test audio that must never be heard as a key press: synthesised speech and music.

Speech comes from espeak-ng (the Debian package, installed by ``make setup``): many voices, speeds and pitches
reading generated sentences. Music is synthesised here: chords and melodies of instruments with harmonic
series (strings, brass, piano, organ, reeds), vibrato, and drums, in equal temperament, where several notes
lie within a few percent of DTMF tones (F5 = 698 Hz, F#6 = 1480 Hz). Both are generated from fixed seeds, so
every run hears the same hour.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

_VOICES = (
    "en-us",
    "en-us+f2",
    "en-us+f4",
    "en-gb",
    "en-gb+m3",
    "en-gb-scotland",
    "en-029",
    "en-us+klatt",
    "fr",
    "de",
    "es",
    "it",
)
_WORDS = [
    "account",
    "balance",
    "please",
    "press",
    "number",
    "option",
    "sales",
    "support",
    "billing",
    "transfer",
    "agent",
    "hold",
    "line",
    "minute",
    "thank",
    "you",
    "calling",
    "today",
    "morning",
    "evening",
    "appointment",
    "schedule",
    "confirm",
    "cancel",
    "repeat",
    "again",
    "welcome",
    "service",
    "customer",
    "order",
    "delivery",
    "tracking",
    "refund",
    "payment",
    "card",
    "security",
    "verify",
    "identity",
    "hello",
    "goodbye",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "zero",
    "star",
    "pound",
    "hash",
    "menu",
    "main",
    "return",
    "previous",
    "next",
    "operator",
    "emergency",
    "doctor",
    "pharmacy",
    "insurance",
    "claim",
    "policy",
    "address",
    "postcode",
    "street",
    "city",
    "country",
    "wonderful",
    "terrible",
    "music",
    "voicemail",
    "message",
    "record",
    "tone",
    "beep",
    "seriously",
    "absolutely",
    "whistle",
    "singing",
]


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speech(seconds: float, rate_hz: int, seed: int = 23) -> npt.NDArray[np.int16]:
    """About ``seconds`` of varied synthetic speech at ``rate_hz``."""
    rng = np.random.default_rng(seed)
    pieces: list[npt.NDArray[np.int16]] = []
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        while total < seconds * rate_hz:
            sentences = [
                " ".join(rng.choice(_WORDS, size=int(rng.integers(4, 14)))).capitalize()
                + rng.choice([".", "?", "!"])
                for _ in range(12)
            ]
            subprocess.run(
                [
                    "espeak-ng",
                    "-v",
                    str(rng.choice(_VOICES)),
                    "-s",
                    str(int(rng.integers(110, 230))),
                    "-p",
                    str(int(rng.integers(10, 95))),
                    "-w",
                    str(path),
                    " ".join(sentences),
                ],
                check=True,
                capture_output=True,
            )
            with wave.open(str(path)) as wav:
                pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
                source_rate = wav.getframerate()
            level = 10 ** (rng.uniform(-12, 0) / 20)  # quiet and loud talkers, up to full scale
            resampled = soxr.resample(pcm.astype(np.float32) * level, source_rate, rate_hz)
            piece = np.clip(np.round(resampled), -32768, 32767).astype(np.int16)
            pieces.append(piece)
            total += piece.size
    return np.concatenate(pieces)[: int(seconds * rate_hz)]


def _note_hz(midi: int) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def music(seconds: float, rate_hz: int, seed: int = 7) -> npt.NDArray[np.int16]:
    """About ``seconds`` of synthetic music at ``rate_hz``: bars of chords under a melody, with drums."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate_hz))
    position = 0
    bar_n = int(rate_hz * 2.0)
    while position < out.size:
        bar = np.zeros(bar_n)
        t = np.arange(bar_n) / rate_hz
        root = int(rng.integers(60, 80))  # C4 .. G#5
        chord = [root, root + int(rng.choice([3, 4])), root + 7] + ([root + 10] if rng.random() < 0.5 else [])
        # Timbre: harmonic k at 1/k^rolloff; 0.6 is brassy, 1.6 is mellow.
        rolloff = rng.uniform(0.6, 1.6)
        for note in chord:
            bar += _tone(_note_hz(note), t, rolloff, rng) * 0.15
        beat_n = bar_n // 8
        for beat in range(8):  # a melody of eighth notes an octave or two up
            note = int(rng.choice(chord)) + 12 * int(rng.integers(1, 3))
            span = slice(beat * beat_n, (beat + 1) * beat_n)
            envelope = np.exp(-np.arange(beat_n) / (0.15 * rate_hz))
            bar[span] += _tone(_note_hz(note), t[span], rng.uniform(0.8, 1.8), rng) * envelope * 0.25
            if beat % 2 == 0:  # a drum: a noise burst
                hit = rng.normal(0, 1, beat_n) * np.exp(-np.arange(beat_n) / (0.03 * rate_hz))
                bar[span] += hit * 0.1
        end = min(out.size, position + bar_n)
        out[position:end] = bar[: end - position]
        position = end
    level = 10 ** (rng.uniform(-6, -1) / 20) / max(1e-9, float(np.max(np.abs(out))))
    return np.round(out * level * 32767).astype(np.int16)


def _tone(
    frequency: float, t: npt.NDArray[np.float64], rolloff: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    vibrato = 1 + 0.004 * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
    phase = 2 * np.pi * frequency * np.cumsum(vibrato) * (t[1] - t[0] if t.size > 1 else 0)
    wave_ = np.zeros_like(t)
    for k in range(1, 9):
        wave_ += np.sin(k * phase) / k**rolloff
    return wave_
