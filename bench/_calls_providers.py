"""The providers the load benchmark can simulate, and the caller audio each one sends."""

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from callbridge.devkit.signals import multitone, to_int16
from callbridge.devkit.simulators.caller_audio import CallerAudio

if TYPE_CHECKING:  # see _calls_client.py
    from bench._calls_exotel import ExotelWire
    from bench._calls_plivo import PlivoWire
    from bench._calls_telnyx import TelnyxWire
    from bench._calls_twilio import TwilioWire
    from bench._calls_wire import FRAME_MS, Wire
else:
    from _calls_exotel import ExotelWire
    from _calls_plivo import PlivoWire
    from _calls_telnyx import TelnyxWire
    from _calls_twilio import TwilioWire
    from _calls_wire import FRAME_MS, Wire

WIRES: dict[str, type[Wire]] = {
    wire.provider: wire for wire in (TwilioWire, TelnyxWire, PlivoWire, ExotelWire)
}
NAMES = tuple(WIRES)


def speech_like_pcm(duration_s: float, rate_hz: int) -> npt.NDArray[np.int16]:
    """A 140 Hz voice's harmonics under a 4 Hz syllable envelope: codec work in every frame, never silence."""
    voice = multitone([140.0 * k for k in (1, 2, 3, 4, 5, 7, 9, 12, 17, 22)], duration_s, rate_hz, dbfs=-8.0)
    time_s = np.arange(voice.size) / rate_hz
    envelope = 0.3 + 0.7 * np.abs(np.sin(np.pi * 4.0 * time_s))
    return to_int16(voice * envelope)


def caller_payloads(wire: type[Wire], frames: int) -> list[bytes]:
    """``frames`` 20 ms frames of the speech-like signal in ``wire``'s format, base64, shared by its calls."""
    pcm = speech_like_pcm(frames * FRAME_MS / 1000, wire.codec.sample_rate_hz)
    audio = CallerAudio.from_pcm(pcm, wire.codec, FRAME_MS)
    return [payload.encode("ascii") for payload in audio.payloads]
