"""A provider's side of one bidirectional media WebSocket: sends the caller, plays and acknowledges the agent.

Provider-neutral: the messages come from a `StreamWire` (wire.py). The sender paces inbound frames on an
absolute clock of 20 ms ticks (the provider's RTP clock), sending a frame every tick, or every fifth for
Exotel's 100 ms chunks, and answering marks whose audio has played on each tick; the receiver runs
concurrently, reads each server message as the provider would and drives the playout buffer (playout.py).
Outbound frames are prepared once (`CallerAudio`), so the per-frame path is one ``%`` of the wire's byte
template and one send; received audio is appended as bytes and decoded once when the call ends.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.devkit.simulators.caller_audio import CallerAudio
from callbridge.devkit.simulators.phone_menu import Responder
from callbridge.devkit.simulators.playout import PlayoutBuffer
from callbridge.devkit.simulators.recording import (
    EndedBy,
    MarkEcho,
    ProtocolViolation,
    ReceivedMessage,
    StreamRecording,
)
from callbridge.devkit.simulators.wire import StreamWire, binary_frame

__all__ = ["TICK_S", "StreamPlan", "StreamSession"]

TICK_S = 0.020
"""The provider's playout clock: one 20 ms RTP packet. Marks fall due and empty-buffer audio starts on it."""
_RAW_EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What the simulated caller does on one stream, and how the provider plays the server's audio."""

    audio: CallerAudio
    outbound: AudioCodec
    """The encoding and rate the provider plays the server's audio in."""
    total_frames: int
    deadline_s: float
    dtmf: Sequence[tuple[float, str]] = ()
    injected: Sequence[tuple[float, dict[str, Any]]] = ()
    """Provider error frames to send at the given times (Telnyx `error`, §2.2), as they are."""
    frame_delay: Callable[[int], int] | None = None
    """Ticks of the inbound frame clock by which frame index i is held back; frames then go out of order
    (Telnyx, §2.2), each keeping the sequence number it got when it was due."""
    record_heard: bool = True
    record_media_messages: bool = True
    hang_up: asyncio.Event | None = None
    """Set from outside to hang up now, as the provider does when its REST API ends the call (`stop`, then
    close); looked at on every 20 ms tick."""
    responder: Responder | None = None
    """A callee that reacts to what it hears (a phone menu, phone_menu.py): it hears the server's audio as
    it arrives and says each inbound frame; None: the caller says ``audio`` whatever it hears."""


class StreamSession:
    """Runs one stream on an open WebSocket; `run()` returns the recording once the call has ended."""

    def __init__(self, ws: ClientConnection, wire: StreamWire, plan: StreamPlan) -> None:
        self._ws = ws
        self._wire = wire
        self._plan = plan
        self._dtmf = deque(sorted(plan.dtmf))
        self._injected = deque(sorted(plan.injected, key=lambda item: item[0]))
        self._ticks_per_frame = round(plan.audio.frame_s / TICK_S)
        self._playout: PlayoutBuffer[MarkEcho] = PlayoutBuffer(
            record_heard=plan.record_heard,
            tick_samples=plan.outbound.samples(TICK_S),
            silence=plan.outbound.silence,
        )
        self._held: list[tuple[int, int, bytes]] = []
        """Delayed frames: (frame slot they go out on, frame index, message)."""
        self._t0 = 0.0
        self._ended = False
        codec = plan.audio.codec
        self.recording = StreamRecording(
            call_sid=wire.call_id,
            stream_sid=wire.stream_id,
            sent_audio=plan.audio.pcm,
            provider=wire.provider,
            sample_rate_hz=codec.sample_rate_hz,
            heard_rate_hz=plan.outbound.sample_rate_hz,
            inbound_encoding=codec.encoding,
            outbound_encoding=plan.outbound.encoding,
            frame_s=plan.audio.frame_s,
            outbound_bytes_per_frame=plan.outbound.samples(plan.audio.frame_s)
            * plan.outbound.bytes_per_sample,
        )

    async def run(self) -> StreamRecording:
        self._t0 = time.monotonic()
        try:
            async with asyncio.timeout(self._plan.deadline_s), asyncio.TaskGroup() as tasks:
                name = f"{self._wire.provider}-sim-receive-{self._wire.call_id}"
                tasks.create_task(self._receive(), name=name)
                await self._send_call()
        except TimeoutError:
            # Only reachable if the server stops reading (send back-pressure) or never finishes closing.
            self._end("timeout")
            await self._ws.close()  # bounded by the connection's close_timeout
        self._finish()
        return self.recording

    # --- sending: what the provider sends ----------------------------------------------------------------

    async def _send_call(self) -> None:
        for message in self._wire.opening():
            if not await self._send(message):
                return
        total_ticks = self._plan.total_frames * self._ticks_per_frame
        hang_up = self._plan.hang_up
        for tick in range(total_ticks):
            # Absolute schedule: tick n is due at t0 + n·20 ms, so sleep overshoot never accumulates.
            scheduled_s = tick * TICK_S
            now_s = await self._sleep_until(scheduled_s)
            if self._ended or not await self._send_due(scheduled_s):
                return
            if hang_up is not None and hang_up.is_set():
                await self._hang_up()
                return
            if not await self._echo_played_marks(now_s):
                return
            frame, offset = divmod(tick, self._ticks_per_frame)
            if offset == 0:
                lateness_s = now_s - scheduled_s
                self.recording.max_send_lateness_s = max(self.recording.max_send_lateness_s, lateness_s)
                if not await self._send_frame(frame):
                    return
        # The last frame lasts a frame's time; the call lasts until it has played, then the caller hangs up.
        now_s = await self._sleep_until(total_ticks * TICK_S)
        if self._ended or not await self._release_held(None) or not await self._echo_played_marks(now_s):
            return
        await self._hang_up()

    async def _send_due(self, scheduled_s: float) -> bool:
        """DTMF and injected frames due by ``scheduled_s``, just before that tick's media."""
        while self._dtmf and self._dtmf[0][0] <= scheduled_s:
            digit = self._dtmf.popleft()[1]
            if not await self._send(self._wire.dtmf(digit)):
                return False
            self.recording.dtmf_sent.append((time.monotonic() - self._t0, digit))
        while self._injected and self._injected[0][0] <= scheduled_s:
            message = self._injected.popleft()[1]
            if not await self._send(orjson.dumps(message)):
                return False
            self.recording.error_frames_sent.append((time.monotonic() - self._t0, message))
        return True

    async def _send_frame(self, index: int) -> bool:
        audio = self._plan.audio
        said = None if self._plan.responder is None else self._plan.responder.says(index)
        if said is not None:
            payload = said
        else:
            payload = audio.payloads[index] if index < len(audio.payloads) else audio.silence_payload
        # Built when due, so a delayed frame keeps its place in the sequence numbering.
        message = self._wire.media(index + 1, payload)
        delay = self._plan.frame_delay(index) if self._plan.frame_delay is not None else 0
        if delay > 0:
            self._held.append((index + delay, index, message))
        elif not await self._send_media(index, message):
            return False
        return await self._release_held(index)

    async def _release_held(self, slot: int | None) -> bool:
        """Send the held frames due by frame ``slot`` (all of them when None), oldest first."""
        if not self._held:
            return True
        due = sorted(
            (item for item in self._held if slot is None or item[0] <= slot), key=lambda item: item[1]
        )
        self._held = [item for item in self._held if slot is not None and item[0] > slot]
        for _, index, message in due:
            if not await self._send_media(index, message):
                return False
        return True

    async def _send_media(self, index: int, message: bytes) -> bool:
        if not await self._send(message):
            return False
        self.recording.inbound_sent_at_s.append(time.monotonic() - self._t0)
        self.recording.inbound_send_order.append(index + 1)
        return True

    async def _hang_up(self) -> None:
        now_s = time.monotonic() - self._t0
        self._end("simulator", now_s)
        stop = self._wire.stop()
        if stop is not None and await self._send(stop):
            self.recording.stop_sent_at_s = now_s
        await self._ws.close()  # bounded by the connection's close_timeout

    async def _echo_played_marks(self, now_s: float) -> bool:
        for mark in self._playout.pop_played_marks(self._sample(now_s)):
            if not await self._answer_mark(mark, cleared=False):
                return False
        return True

    async def _answer_mark(self, mark: MarkEcho, *, cleared: bool) -> bool:
        mark.cleared = cleared
        echo = self._wire.mark_echo(mark.name, cleared=cleared)
        if echo is None:
            return True  # this provider never answers it (Plivo, a checkpoint a clear dropped)
        sent = await self._send(echo)
        if sent:
            mark.echoed_at_s = time.monotonic() - self._t0
        return sent

    async def _send(self, message: bytes) -> bool:
        """Send one JSON text frame; False once the connection is closed (the receiver records why)."""
        try:
            # Bounded by run()'s deadline; a plain send only waits when the server stops reading.
            await self._ws.send(message, text=True)
        except ConnectionClosed:
            return False
        return True

    # --- receiving: what the provider accepts ------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            try:
                raw = await self._ws.recv()  # bounded by run()'s deadline
            except ConnectionClosed as exc:
                # After our own hang-up, _end() has already run and this changes nothing.
                self._end("server" if exc.rcvd is not None else "connection_lost")
                return
            await self._on_message(raw, time.monotonic() - self._t0)

    async def _on_message(self, raw: str | bytes, now_s: float) -> None:
        parsed = self._wire.read(raw) if isinstance(raw, str) else binary_frame(self._wire.provider)
        if parsed.event != self._wire.audio_event or self._plan.record_media_messages:
            self.recording.received.append(ReceivedMessage(now_s, parsed.event, parsed.message))
        if self._ended:
            return  # the call is over: nothing plays and nothing is answered any more
        if parsed.violations:
            excerpt = raw[:_RAW_EXCERPT_CHARS]
            text = excerpt if isinstance(excerpt, str) else repr(excerpt)
            for reason in parsed.violations:
                self.recording.violations.append(ProtocolViolation(now_s, reason, text))
        if parsed.audio is not None:
            self.recording.outbound_media_at_s.append(now_s)
            self.recording.outbound_media_bytes.append(len(parsed.audio))
            self._playout.enqueue_audio(self._sample(now_s), parsed.audio)
            if self._plan.responder is not None:
                heard = self._plan.responder.hears(self._plan.outbound.decode(parsed.audio))
                self.recording.dtmf_heard.extend((now_s, key) for key in heard)
        elif parsed.mark_name is not None:
            await self._on_mark(parsed.mark_name, now_s)
        elif parsed.clear:
            await self._on_clear(now_s)

    async def _on_mark(self, name: str, now_s: float) -> None:
        mark = MarkEcho(name=name, received_at_s=now_s)
        self.recording.marks.append(mark)
        # Marks whose audio has already played go first, keeping answers in the order the marks were sent.
        if not await self._echo_played_marks(now_s):
            return
        if self._playout.enqueue_mark(self._sample(now_s), mark):
            await self._answer_mark(mark, cleared=False)  # §1.3, §2.3: "if there is no audio buffered"

    async def _on_clear(self, now_s: float) -> None:
        self.recording.clears_at_s.append(now_s)
        if not await self._echo_played_marks(now_s):
            return
        for mark in self._playout.clear(self._sample(now_s)):
            if not await self._answer_mark(mark, cleared=True):
                return
        ack = self._wire.clear_ack()
        if ack is not None and await self._send(ack):
            self.recording.cleared_acks_at_s.append(time.monotonic() - self._t0)

    # --- bookkeeping ---------------------------------------------------------------------------------------

    def _sample(self, at_s: float) -> int:
        # Nearest sample: tick n, n·0.02 s, must map to n·160 at 8 kHz despite float rounding.
        return round(at_s * self._plan.outbound.sample_rate_hz)

    async def _sleep_until(self, at_s: float) -> float:
        delay_s = at_s - (time.monotonic() - self._t0)
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        return time.monotonic() - self._t0

    def _end(self, ended_by: EndedBy, now_s: float | None = None) -> None:
        """The call is over from the first caller on: playout stops and unplayed marks stay unanswered."""
        if self._ended:
            return
        at_s = time.monotonic() - self._t0 if now_s is None else now_s
        self._ended = True
        self.recording.ended_by = ended_by
        self.recording.ended_at_s = at_s
        self._playout.end(self._sample(at_s))

    def _finish(self) -> None:
        recording = self.recording
        order = recording.inbound_send_order
        if any(later < earlier for earlier, later in itertools.pairwise(order)):
            by_chunk = sorted(zip(order, recording.inbound_sent_at_s, strict=True))
            recording.inbound_sent_at_s = [at_s for _, at_s in by_chunk]
        recording.heard_s = self._playout.played_samples / self._plan.outbound.sample_rate_hz
        heard = self._playout.heard_bytes(self._sample(recording.ended_at_s))
        if heard is not None:
            recording.heard = self._plan.outbound.decode(heard)
        recording.close_code = self._ws.close_code
        recording.close_reason = self._ws.close_reason or ""
