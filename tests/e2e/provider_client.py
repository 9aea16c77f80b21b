"""A bare provider media-stream client for end-to-end tests that send what no simulator would.

It speaks each provider's wire format through the simulators' wire modules (so its messages are the
provider's own shapes), but lets a test send anything in between: malformed JSON, wrong types, binary and
non-UTF-8 frames. Server messages are read in the background; audio is decoded, mark echoes are not sent
(the playout does not need them to keep sending).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import sinad_db, tone
from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.devkit.simulators.exotel_wire import ExotelWire
from callbridge.devkit.simulators.plivo_wire import PlivoWire
from callbridge.devkit.simulators.telnyx_wire import TelnyxWire
from callbridge.devkit.simulators.twilio_wire import TwilioWire
from callbridge.devkit.simulators.wire import StreamWire

FRAME_MS = 20
PROBE_TONE_HZ = 1000.0
PROBE_S = 0.4  # two of Exotel's 200 ms frames; twenty 20 ms frames elsewhere
# Each provider in the format the tests use: its best one (what callbridge's XML asks for by default).
CODECS = {
    Provider.TWILIO: AudioCodec("PCMU", 8000),
    Provider.TELNYX: AudioCodec("L16", 16000, "big"),  # media's default assumption (RFC 3551)
    Provider.PLIVO: AudioCodec("L16", 16000),
    Provider.EXOTEL: AudioCodec("L16", 16000),
}


def wire_for(provider: Provider, index: int = 0) -> StreamWire:
    """A fresh stream's wire format, with ids that differ by ``index``."""
    codec = CODECS[provider]
    tag = f"{index:04d}"
    if provider is Provider.TWILIO:
        return TwilioWire(
            account_sid="AC" + "1" * 32,
            call_sid="CA" + tag * 8,
            stream_sid="MZ" + tag * 8,
            custom_parameters={"case": tag},
        )
    if provider is Provider.TELNYX:
        return TelnyxWire(
            call_control_id=f"v3:call-{tag}",
            stream_id=f"32DE0DEA-53CB-4B21-89A4-9E1819C0{tag}",
            from_number="+15550001111",
            to_number="+15550002222",
            custom_parameters={"case": tag},
            inbound=codec,
            outbound=codec,
            frame_ms=FRAME_MS,
        )
    if provider is Provider.PLIVO:
        return PlivoWire(
            call_uuid=f"12345678-1234-1234-1234-12345678{tag}",
            stream_id=f"87654321-4321-4321-4321-cba98765{tag}",
            account_id="MA" + "X" * 18,
            encoding="audio/x-l16",
            codec=codec,
            frame_ms=FRAME_MS,
            extra_headers=f"case={tag}",
            played_event="playedStream",
            stop_reason="hangup",
        )
    return ExotelWire(
        call_sid=f"exotel{tag}",
        stream_sid=f"stream{tag}",
        account_sid="exotel_sid",
        from_number="09845011223",
        to_number="08012345678",
        custom_parameters={"case": tag},
        codec=codec,
        frame_ms=FRAME_MS,
        stream_sid_placement="both",
        sample_rate_format="plain",
        echo_marks_on_clear=True,
        min_chunk_rule="documented",
    )


class ProviderClient:
    """One provider stream to a join URL: the opening, then whatever the test sends."""

    def __init__(self, ws: ClientConnection, provider: Provider, wire: StreamWire) -> None:
        self.ws = ws
        self.provider = provider
        self.wire = wire
        self.codec = CODECS[provider]
        self.audio = bytearray()
        """Every audio payload the server sent, in the stream's outbound encoding, in order."""
        self.audio_at: list[tuple[float, int]] = []
        """When each audio message arrived (loop time) and how many bytes of audio it carried."""
        self.messages_received = 0
        self._chunk = 0
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for message in self.wire.opening():
            await self.send(message)
        self._reader = asyncio.create_task(self._read(), name=f"{self.provider}-test-client-reader")

    async def send(self, message: dict[str, Any] | str | bytes, *, text: bool = True) -> None:
        """A message as given: a dict as JSON text, ``str`` as text, ``bytes`` as a binary frame, or, with
        ``text=True``, as a text frame carrying those bytes unchecked (how a client sends non-UTF-8 text)."""
        if isinstance(message, dict):
            await self.ws.send(orjson.dumps(message).decode())
        elif isinstance(message, bytes):
            await self.ws.send(message, text=text)
        else:
            await self.ws.send(message)

    def media_message(self, pcm: npt.NDArray[np.int16]) -> dict[str, Any]:
        """A valid inbound media message carrying ``pcm`` (one frame), as a dict the tests may spoil."""
        self._chunk += 1
        message: dict[str, Any] = orjson.loads(
            self.wire.media(self._chunk, base64.b64encode(self.codec.encode(pcm)))
        )
        return message

    async def send_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        """``pcm`` at the stream's rate as valid 20 ms media frames, as fast as the socket takes them."""
        step = self.codec.sample_rate_hz * FRAME_MS // 1000
        for start in range(0, len(pcm) - step + 1, step):
            await self.send(self.media_message(pcm[start : start + step]))

    async def wait_for_audio(self, samples: int, timeout_s: float = 10.0) -> npt.NDArray[np.int16]:
        """Wait until the server has sent at least ``samples`` samples of audio; all of it, decoded."""
        need = samples * self.codec.bytes_per_sample
        async with asyncio.timeout(timeout_s):
            while len(self.audio) < need:
                if self._reader is not None and self._reader.done():
                    raise ConnectionError(f"stream closed after {len(self.audio)} bytes of audio")
                self._arrived.clear()
                await self._arrived.wait()
        return self.codec.decode(bytes(self.audio[: len(self.audio) // 2 * 2]))

    async def assert_echoes(self, probe_s: float = PROBE_S) -> None:
        """Valid caller audio still comes back through an echo agent at the stream's rate: a tone, bit-exact
        in a 16-bit format (μ-law twice bounds Twilio's). Also a barrier: the server has read every message
        sent before the probe."""
        rate = self.codec.sample_rate_hz
        probe = tone(PROBE_TONE_HZ, probe_s, rate, -10.0)
        await self.send_audio(probe)
        echoed = await self.wait_for_audio(len(probe))
        sinad = sinad_db(echoed[rate // 50 : len(probe) - rate // 50], PROBE_TONE_HZ, rate)
        assert sinad >= (30.0 if self.codec.encoding == "PCMU" else 70.0), f"echo SINAD {sinad:.1f} dB"

    async def stop(self) -> None:
        stop = self.wire.stop()
        if stop is not None:
            await self.send(stop)

    async def wait_closed(self, timeout_s: float) -> None:
        """Wait until the server has closed the stream."""
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout_s)

    @property
    def closed(self) -> bool:
        return self._reader is not None and self._reader.done()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.messages_received += 1
                message = self.wire.read(raw)
                if message.audio is not None:
                    self.audio += message.audio
                    self.audio_at.append((asyncio.get_running_loop().time(), len(message.audio)))
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self._arrived.set()

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


@contextlib.asynccontextmanager
async def provider_client(
    join_url: str, provider: Provider, index: int = 0, *, max_size: int = 4 * 1024 * 1024
) -> AsyncIterator[ProviderClient]:
    """Open ``join_url`` as ``provider`` and send the stream's opening (``connected``, ``start``)."""
    async with connect(join_url, open_timeout=5, max_size=max_size, compression=None) as ws:
        client = ProviderClient(ws, provider, wire_for(provider, index))
        await client.start()
        try:
            yield client
        finally:
            await client.close()
