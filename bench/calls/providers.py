"""The providers the load benchmark calls as: the format each streams in, its wire, and the caller's audio.

Each call is created with the ``medium`` callbridge's webhooks would give it, choosing the provider's best
format: Twilio μ-law 8 kHz (its only one), Telnyx L16 16 kHz (RTP mode, big-endian as media assumes by
default), Plivo ``audio/x-l16;rate=16000`` (little-endian), Exotel PCM16 LE at ``?sample-rate=16000``. Its
messages are the devkit simulators' wire for that provider (callbridge.devkit.simulators.*_wire), the same
code the simulators and the tests run, driven here by the lean client (client.py).
"""

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from callbridge.devkit.signals import multitone, to_int16
from callbridge.devkit.simulators import plivo_wire, telnyx_wire
from callbridge.devkit.simulators.audio_codec import PCMU_8K, AudioCodec
from callbridge.devkit.simulators.caller_audio import CallerAudio
from callbridge.devkit.simulators.exotel_wire import ExotelWire
from callbridge.devkit.simulators.plivo_wire import PlivoWire
from callbridge.devkit.simulators.telnyx_wire import TelnyxWire
from callbridge.devkit.simulators.twilio import new_sid
from callbridge.devkit.simulators.twilio_wire import TwilioWire
from callbridge.devkit.simulators.wire import StreamWire
from callbridge.media.providers.exotel import SHORT_FRAME_MS

FRAME_MS = 20  # every provider here sends the caller's audio in 20 ms frames
# RFC 3551's order, which media assumes by default (CALLBRIDGE_TELNYX_L16_BYTE_ORDER)
TELNYX_L16 = AudioCodec("L16", 16000, "big")
L16_16K_LE = AudioCodec("L16", 16000, "little")  # Plivo (§3.4) and Exotel (§4.4)


@dataclass(frozen=True, slots=True)
class BenchProvider:
    name: str
    codec: AudioCodec
    """What the caller sends and expects back: callbridge's medium asks for the same format both ways."""
    medium: dict[str, Any]
    """The ``medium`` of ``POST /api/calls``, as callbridge's webhooks would set it for this provider."""
    new_wire: Callable[[], StreamWire]
    """One call's wire, with fresh ids."""
    echo_chunk_frames: int = 1
    """Inbound frames per audio message media sends back; it sends whole messages only, so a run's frame
    count must be a multiple of this for all of them to come back."""

    @property
    def frame_samples(self) -> int:
        return self.codec.samples(FRAME_MS / 1000)


def _twilio_wire() -> StreamWire:
    return TwilioWire(
        account_sid=new_sid("AC"), call_sid=new_sid("CA"), stream_sid=new_sid("MZ"), custom_parameters={}
    )


def _telnyx_wire() -> StreamWire:
    return TelnyxWire(
        call_control_id="v3:" + uuid.uuid4().hex,
        stream_id=telnyx_wire.new_stream_id(),
        from_number="+13122010094",
        to_number="+13122123456",
        custom_parameters={},
        inbound=TELNYX_L16,
        outbound=TELNYX_L16,
        frame_ms=FRAME_MS,
    )


def _plivo_wire() -> StreamWire:
    return PlivoWire(
        call_uuid=str(uuid.uuid4()),
        stream_id=plivo_wire.new_stream_id(),
        account_id="MAXXXXXXXXXXXXXXXXXX",
        encoding="audio/x-l16",
        codec=L16_16K_LE,
        frame_ms=FRAME_MS,
        extra_headers=None,
        played_event="playedStream",
        stop_reason="hangup",  # the Java SDK's `stop` (§3.2); media takes it or a close
    )


def _exotel_wire() -> StreamWire:
    return ExotelWire(
        call_sid=secrets.token_hex(16),
        stream_sid=secrets.token_hex(16),
        account_sid="exotel_bench",
        from_number="09845011223",
        to_number="08012345678",
        custom_parameters={},
        codec=L16_16K_LE,
        frame_ms=FRAME_MS,
        stream_sid_placement="both",
        sample_rate_format="plain",
        echo_marks_on_clear=True,
        # At least 3200 bytes and 100 ms (§4.3), as media reads the contradictory minimum (its exotel.py).
        min_chunk_rule="documented",
    )


PROVIDERS: dict[str, BenchProvider] = {
    provider.name: provider
    for provider in (
        BenchProvider("twilio", PCMU_8K, {"twilio": {}}, _twilio_wire),
        BenchProvider("telnyx", TELNYX_L16, {"telnyx": {"codec": "L16", "sampleRate": 16000}}, _telnyx_wire),
        BenchProvider("plivo", L16_16K_LE, {"plivo": {"codec": "L16", "sampleRate": 16000}}, _plivo_wire),
        # Media echoes Exotel at 16 kHz in chunks of SHORT_FRAME_MS (its providers/exotel.py).
        BenchProvider(
            "exotel", L16_16K_LE, {"exotel": {"sampleRate": 16000}}, _exotel_wire, SHORT_FRAME_MS // FRAME_MS
        ),
    )
}
NAMES = tuple(PROVIDERS)


def speech_like_pcm(duration_s: float, rate_hz: int) -> npt.NDArray[np.int16]:
    """A 140 Hz voice's harmonics under a 4 Hz syllable envelope: codec work in every frame, never silence."""
    voice = multitone([140.0 * k for k in (1, 2, 3, 4, 5, 7, 9, 12, 17, 22)], duration_s, rate_hz, dbfs=-8.0)
    time_s = np.arange(voice.size) / rate_hz
    envelope = 0.3 + 0.7 * np.abs(np.sin(np.pi * 4.0 * time_s))
    return to_int16(voice * envelope)


def caller_payloads(provider: BenchProvider, frames: int) -> list[bytes]:
    """``frames`` 20 ms frames of the speech-like signal in the provider's format, base64, shared by its
    calls."""
    pcm = speech_like_pcm(frames * FRAME_MS / 1000, provider.codec.sample_rate_hz)
    return list(CallerAudio.from_pcm(pcm, provider.codec, FRAME_MS).payloads)
