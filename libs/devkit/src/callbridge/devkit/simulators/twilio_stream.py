"""Twilio's side of one `<Connect><Stream>` WebSocket: sends the caller, plays and acknowledges the agent.

The sender paces inbound `media` on an absolute 20 ms clock; the receiver runs concurrently, reads each
server message as Twilio would (twilio_wire.py, §1.3 of /work/shared/reference/provider-protocols.md) and
drives the playout buffer (playout.py). Outbound frames are prepared once (`CallerAudio`), so the per-frame
path is one small dict, one `orjson.dumps` and one send; received audio is appended as bytes and decoded
once when the call ends.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from callbridge.devkit.simulators import twilio_wire as wire
from callbridge.devkit.simulators.playout import ULAW_SILENCE_BYTE, PlayoutBuffer
from callbridge.devkit.simulators.recording import (
    EndedBy,
    MarkEcho,
    ProtocolViolation,
    ReceivedMessage,
    StreamRecording,
)
from callbridge.media.audio.g711 import ulaw_decode, ulaw_encode

__all__ = ["CallerAudio", "TwilioStreamSession"]

FRAME_SAMPLES = wire.FRAME_SAMPLES
FRAME_S = wire.FRAME_S
_SILENCE_PAYLOAD = base64.b64encode(bytes((ULAW_SILENCE_BYTE,)) * FRAME_SAMPLES).decode("ascii")
_RAW_EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class CallerAudio:
    """The caller's audio, encoded once into base64 μ-law frames; share one across many concurrent calls."""

    pcm: npt.NDArray[np.int16]
    payloads: tuple[str, ...]
    """Base64 of each 160-byte μ-law frame; the last frame is padded with silence."""

    @classmethod
    def from_pcm(cls, pcm: npt.NDArray[np.int16]) -> CallerAudio:
        """Encode int16 mono PCM at 8 kHz."""
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(
                f"caller audio must be 1-D int16 at 8 kHz, got {pcm.dtype} with shape {pcm.shape}"
            )
        padding = -len(pcm) % FRAME_SAMPLES
        ulaw = ulaw_encode(pcm) + bytes((ULAW_SILENCE_BYTE,)) * padding
        payloads = tuple(
            base64.b64encode(ulaw[start : start + FRAME_SAMPLES]).decode("ascii")
            for start in range(0, len(ulaw), FRAME_SAMPLES)
        )
        return cls(pcm=pcm, payloads=payloads)


class TwilioStreamSession:
    """Runs one stream on an open WebSocket; `run()` returns the recording once the call has ended."""

    def __init__(
        self,
        ws: ClientConnection,
        *,
        account_sid: str,
        call_sid: str,
        stream_sid: str,
        custom_parameters: dict[str, str],
        audio: CallerAudio,
        total_frames: int,
        dtmf: Sequence[tuple[float, str]],
        deadline_s: float,
        record_heard: bool,
        record_media_messages: bool,
    ) -> None:
        self._ws = ws
        self._account_sid = account_sid
        self._call_sid = call_sid
        self._stream_sid = stream_sid
        self._custom_parameters = custom_parameters
        self._audio = audio
        self._total_frames = total_frames
        self._dtmf = sorted(dtmf)
        self._deadline_s = deadline_s
        self._record_media_messages = record_media_messages
        self._playout: PlayoutBuffer[MarkEcho] = PlayoutBuffer(
            record_heard=record_heard, tick_samples=FRAME_SAMPLES
        )
        self._sequence = 0
        self._t0 = 0.0
        self._ended = False
        self.recording = StreamRecording(call_sid=call_sid, stream_sid=stream_sid, sent_audio=audio.pcm)

    async def run(self) -> StreamRecording:
        self._t0 = time.monotonic()
        try:
            async with asyncio.timeout(self._deadline_s), asyncio.TaskGroup() as tasks:
                tasks.create_task(self._receive(), name=f"twilio-sim-receive-{self._call_sid}")
                await self._send_call()
        except TimeoutError:
            # Only reachable if the server stops reading (send back-pressure) or never finishes closing.
            self._end("timeout")
            await self._ws.close()  # bounded by the connection's close_timeout
        self._finish()
        return self.recording

    # --- sending: what Twilio sends (§1.2) ---------------------------------------------------------------

    async def _send_call(self) -> None:
        start = wire.start_message(
            self._next_sequence(),
            account_sid=self._account_sid,
            stream_sid=self._stream_sid,
            call_sid=self._call_sid,
            custom_parameters=self._custom_parameters,
        )
        if not await self._send(wire.connected_message()) or not await self._send(start):
            return
        sent_at, payloads, stream_sid = (
            self.recording.inbound_sent_at_s,
            self._audio.payloads,
            self._stream_sid,
        )
        next_dtmf = 0
        for index in range(self._total_frames):
            # Absolute schedule: frame n is due at t0 + n·20 ms, so sleep overshoot never accumulates.
            scheduled_s = index * FRAME_S
            now_s = await self._sleep_until(scheduled_s)
            if self._ended:
                return
            self.recording.max_send_lateness_s = max(self.recording.max_send_lateness_s, now_s - scheduled_s)
            while next_dtmf < len(self._dtmf) and self._dtmf[next_dtmf][0] <= scheduled_s:
                if not await self._send_dtmf(self._dtmf[next_dtmf][1]):
                    return
                next_dtmf += 1
            if not await self._echo_played_marks(now_s):
                return
            payload = payloads[index] if index < len(payloads) else _SILENCE_PAYLOAD
            media = wire.media_message(
                self._next_sequence(), stream_sid=stream_sid, chunk=index + 1, payload=payload
            )
            if not await self._send(media):
                return
            sent_at.append(time.monotonic() - self._t0)
        # The last frame covers 20 ms; the call lasts until it has been played, then Twilio sends `stop`.
        now_s = await self._sleep_until(self._total_frames * FRAME_S)
        if self._ended or not await self._echo_played_marks(now_s):
            return
        await self._hang_up()

    async def _hang_up(self) -> None:
        now_s = time.monotonic() - self._t0
        self._end("simulator", now_s)
        stop = wire.stop_message(
            self._next_sequence(),
            stream_sid=self._stream_sid,
            account_sid=self._account_sid,
            call_sid=self._call_sid,
        )
        if await self._send(stop):
            self.recording.stop_sent_at_s = now_s
        await self._ws.close()  # bounded by the connection's close_timeout

    async def _send_dtmf(self, digit: str) -> bool:
        sent = await self._send(
            wire.dtmf_message(self._next_sequence(), stream_sid=self._stream_sid, digit=digit)
        )
        if sent:
            self.recording.dtmf_sent.append((time.monotonic() - self._t0, digit))
        return sent

    async def _echo_played_marks(self, now_s: float) -> bool:
        for mark in self._playout.pop_played_marks(self._sample(now_s)):
            if not await self._echo_mark(mark, cleared=False):
                return False
        return True

    async def _echo_mark(self, mark: MarkEcho, *, cleared: bool) -> bool:
        sent = await self._send(
            wire.mark_message(self._next_sequence(), stream_sid=self._stream_sid, name=mark.name)
        )
        if sent:
            mark.echoed_at_s = time.monotonic() - self._t0
            mark.cleared = cleared
        return sent

    async def _send(self, message: dict[str, Any]) -> bool:
        """Send one JSON text frame; False once the connection is closed (the receiver records why)."""
        try:
            # Bounded by run()'s deadline; a plain send only waits when the server stops reading.
            await self._ws.send(orjson.dumps(message), text=True)
        except ConnectionClosed:
            return False
        return True

    # --- receiving: what Twilio accepts (§1.3) -----------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            try:
                raw = await self._ws.recv()  # bounded by run()'s deadline
            except ConnectionClosed as exc:
                # After our own stop, _end() has already run and this changes nothing.
                self._end("server" if exc.rcvd is not None else "connection_lost")
                return
            await self._on_message(raw, time.monotonic() - self._t0)

    async def _on_message(self, raw: str | bytes, now_s: float) -> None:
        parsed = wire.read_server_message(raw, self._stream_sid)
        if parsed.event != "media" or self._record_media_messages:
            self.recording.received.append(ReceivedMessage(now_s, parsed.event, parsed.message))
        if self._ended:
            return  # the call is over: nothing plays and nothing is echoed any more
        if parsed.violation is not None:
            excerpt = raw[:_RAW_EXCERPT_CHARS]
            text = excerpt if isinstance(excerpt, str) else repr(excerpt)
            self.recording.violations.append(ProtocolViolation(now_s, parsed.violation, text))
        if parsed.ulaw is not None:
            self.recording.outbound_media_at_s.append(now_s)
            self.recording.outbound_media_bytes.append(len(parsed.ulaw))
            self._playout.enqueue_audio(self._sample(now_s), parsed.ulaw)
        elif parsed.mark_name is not None:
            await self._on_mark(parsed.mark_name, now_s)
        elif parsed.event == "clear" and parsed.violation is None:
            await self._on_clear(now_s)

    async def _on_mark(self, name: str, now_s: float) -> None:
        mark = MarkEcho(name=name, received_at_s=now_s)
        self.recording.marks.append(mark)
        # Marks whose audio has already played go first, keeping echoes in the order the marks were sent.
        if not await self._echo_played_marks(now_s):
            return
        if self._playout.enqueue_mark(self._sample(now_s), mark):
            await self._echo_mark(mark, cleared=False)  # §1.3: "or if there is no audio buffered"

    async def _on_clear(self, now_s: float) -> None:
        self.recording.clears_at_s.append(now_s)
        if not await self._echo_played_marks(now_s):
            return
        for mark in self._playout.clear(self._sample(now_s)):
            if not await self._echo_mark(mark, cleared=True):
                return

    # --- bookkeeping ---------------------------------------------------------------------------------------

    def _next_sequence(self) -> str:
        # §1.2: one counter per stream over every message that carries it, starting at "1", as a string.
        self._sequence += 1
        return str(self._sequence)

    def _sample(self, at_s: float) -> int:
        # Nearest sample: frame n's tick, n·0.02 s, must map to n·160 despite float rounding.
        return round(at_s * wire.SAMPLE_RATE_HZ)

    async def _sleep_until(self, at_s: float) -> float:
        delay_s = at_s - (time.monotonic() - self._t0)
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        return time.monotonic() - self._t0

    def _end(self, ended_by: EndedBy, now_s: float | None = None) -> None:
        """The call is over from the first caller on: playout stops and unplayed marks stay unechoed."""
        if self._ended:
            return
        at_s = time.monotonic() - self._t0 if now_s is None else now_s
        self._ended = True
        self.recording.ended_by = ended_by
        self.recording.ended_at_s = at_s
        self._playout.end(self._sample(at_s))

    def _finish(self) -> None:
        heard = self._playout.heard_ulaw(self._sample(self.recording.ended_at_s))
        if heard is not None:
            self.recording.heard = ulaw_decode(heard)
        self.recording.close_code = self._ws.close_code
        self.recording.close_reason = self._ws.close_reason or ""
