"""A lean provider caller for load tests: one asyncio protocol per call, driven by timer callbacks, no tasks.

It plays the provider's side of a bidirectional media stream (/work/shared/reference/provider-protocols.md
§1-§4) as the devkit's stream sessions do: the provider's opening messages, then a `media` frame every 20 ms
on the call's own absolute clock, a playout buffer that plays the server's audio in real time and answers
each mark (Plivo: checkpoint) once the audio before it has played (the devkit's PlayoutBuffer, so both
clients agree), then the provider's `stop` and a close. What differs between providers, the message shapes
and what each accepts, is the call's wire: the devkit simulators' own (callbridge.devkit.simulators.wire),
whose byte templates cost one ``%`` per frame. For each inbound frame it records when it was written, and
for each audio message from the server when it arrived and how many samples it carried, so the echo
latency can be matched by sample offset (result.py).
"""

import asyncio
import time
from typing import cast
from urllib.parse import urlsplit

from bench.calls import ws
from bench.calls.providers import FRAME_MS, BenchProvider
from bench.calls.result import CallResult
from callbridge.devkit.simulators.playout import PlayoutBuffer
from callbridge.devkit.simulators.wire import ServerMessage, binary_frame

USER_AGENT = "callbridge-bench-calls/1"
FRAME_S = FRAME_MS / 1000
DRAIN_TIMEOUT_S = 2.0  # after the last frame: wait this long at most for its echo and marks
CLOSE_TIMEOUT_S = 2.0  # after our close frame: wait this long at most for the server to close TCP
MAX_WRITE_BUFFER_BYTES = 512 * 1024  # ~10 s of one call's L16 frames: a server that stops reading fails it


class LoadCall(asyncio.Protocol):
    """One simulated provider stream. `open_call` connects it; `start_media` starts its 20 ms clock."""

    def __init__(
        self, path: str, host: str, port: int, provider: BenchProvider, payloads: list[bytes]
    ) -> None:
        self.wire = provider.new_wire()
        self.result = CallResult(provider=provider.name, frame_samples=provider.frame_samples)
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loop = asyncio.get_running_loop()
        self._key = ws.generate_key()
        self._request = ws.upgrade_request(host, port, path, self._key, USER_AGENT)
        self._transport: asyncio.Transport | None = None
        self._head = b""  # handshake bytes until the blank line
        self._rest = b""  # an incomplete frame left from the last read
        self._fragments: list[bytes] = []
        self._open = False
        self._closing = False
        self._payloads = payloads
        codec = provider.codec
        self._rate_hz = codec.sample_rate_hz
        self._bytes_per_sample = codec.bytes_per_sample
        self._playout: PlayoutBuffer[str] = PlayoutBuffer(
            record_heard=False, tick_samples=provider.frame_samples, silence=codec.silence
        )
        self._t0 = 0.0
        self._total_frames = 0
        self._next_index = 0
        self._echo_samples_total = 0
        self._drain_deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self._open:
            self._handshake_data(data)
            return
        try:
            frames, self._rest = ws.split_frames(self._rest + data if self._rest else data)
        except ws.FrameError as exc:
            self._fail(str(exc))
            return
        for frame in frames:
            self._on_frame(frame, now)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self.result.ended_by:
            self.result.ended_by = "connection_lost"
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake: {exc!r}"))
        if not self.ended.done():
            self.ended.set_result(None)

    # --- the stream ---------------------------------------------------------------------------------------

    def start_stream(self) -> None:
        """The provider's opening messages: the server creates the call's audio path on `start`."""
        self._write(b"".join(ws.client_frame(ws.OP_TEXT, message) for message in self.wire.opening()))

    def start_media(self, t0_s: float, total_frames: int) -> None:
        """Send frame n at ``t0_s + n·20 ms`` (monotonic clock), ``total_frames`` of them, then hang up."""
        self._t0, self._total_frames = t0_s, total_frames
        self._timer = self._loop.call_later(max(0.0, t0_s - time.monotonic()), self._send_tick)

    def _send_tick(self) -> None:
        if not self._open or self._closing:
            return
        index = self._next_index
        now = time.monotonic()
        # Marks whose audio has played go out with the frame: one write, one system call per call and tick.
        # Each message takes its sequence number as it is built, so they are numbered in the order written.
        parts = self._played_mark_frames(now)
        media = self.wire.media(index + 1, self._payloads[index % len(self._payloads)])
        parts.append(ws.client_frame(ws.OP_TEXT, media))
        self._write(b"".join(parts) if len(parts) > 1 else parts[0])
        result = self.result
        result.sent_at_s.append(time.monotonic())
        result.send_lateness_s.append(now - (self._t0 + index * FRAME_S))
        result.frames_sent += 1
        self._next_index = index + 1
        if self._next_index < self._total_frames:
            delay_s = self._t0 + self._next_index * FRAME_S - time.monotonic()
            self._timer = self._loop.call_later(max(0.0, delay_s), self._send_tick)
        else:
            self._drain_deadline = now + DRAIN_TIMEOUT_S
            self._timer = self._loop.call_later(FRAME_S, self._drain_tick)

    def _drain_tick(self) -> None:
        """After the last frame: keep playing and answering marks until everything came back, then hang up."""
        if not self._open or self._closing:
            return
        now = time.monotonic()
        played = self._played_mark_frames(now)
        if played:
            self._write(b"".join(played))
        echoed_all = self._echo_samples_total >= self.result.frames_sent * self.result.frame_samples
        if (echoed_all and self._playout.pending_marks == 0) or now >= self._drain_deadline:
            self.hang_up()
        else:
            self._timer = self._loop.call_later(FRAME_S, self._drain_tick)

    def hang_up(self) -> None:
        """The provider's `stop`, then the closing handshake; the server closes TCP, or we do, later."""
        if not self._open or self._closing:
            return
        self.result.ended_by = "simulator"
        stop = self.wire.stop()
        if stop is not None:
            self._write(ws.client_frame(ws.OP_TEXT, stop))
        self._send_close(1000)

    def abort(self, reason: str) -> None:
        if self.result.error is None:
            self.result.error = reason
        if self._transport is not None:
            self._transport.abort()

    # --- receiving ----------------------------------------------------------------------------------------

    def _handshake_data(self, data: bytes) -> None:
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > ws.MAX_HANDSHAKE_BYTES:
                self._fail("handshake response too long")
            return
        head, rest = self._head[:end], self._head[end + 4 :]
        self._head = b""
        try:
            ws.check_upgrade_response(head, self._key)
        except ws.HandshakeError as exc:
            self.opened.set_exception(exc)
            self.result.error = str(exc)
            self._transport_close()
            return
        self._open = True
        self.opened.set_result(None)
        if rest:
            self.data_received(rest)

    def _on_frame(self, frame: ws.ServerFrame, now: float) -> None:
        opcode = frame.opcode
        if opcode == ws.OP_TEXT and frame.fin:
            self._on_text(frame.payload, now)
        elif opcode in (ws.OP_TEXT, ws.OP_CONTINUATION):
            self._fragments.append(frame.payload)
            if frame.fin:
                message, self._fragments = b"".join(self._fragments), []
                self._on_text(message, now)
        elif opcode == ws.OP_PING:
            self._write(ws.client_frame(ws.OP_PONG, frame.payload))  # websockets pings every 20 s by default
        elif opcode == ws.OP_CLOSE:
            code = int.from_bytes(frame.payload[:2], "big") if len(frame.payload) >= 2 else 1005
            self.result.close_code = code
            if not self._closing:
                self.result.ended_by = "server"
                self._send_close(code if code != 1005 else 1000)
        elif opcode == ws.OP_BINARY:
            self._count_violations(binary_frame(self.wire.provider))

    def _on_text(self, raw: bytes, now: float) -> None:
        if self._closing:
            return  # the call is over for the caller: nothing plays any more
        heard = self.wire.read(raw)
        if heard.violations:
            self._count_violations(heard)
        if heard.audio:
            samples = len(heard.audio) // self._bytes_per_sample
            self.result.echo_at_s.append(now)
            self.result.echo_samples.append(samples)
            self._echo_samples_total += samples
            self._playout.enqueue_audio(self._sample(now), heard.audio)
        elif heard.mark_name is not None:
            self.result.marks_received += 1
            # Answers keep the order the marks were sent in: those already played go first.
            parts = self._played_mark_frames(now)
            if self._playout.enqueue_mark(self._sample(now), heard.mark_name):  # at once if none buffered
                parts += self._mark_frames([heard.mark_name], cleared=False)
            if parts:
                self._write(b"".join(parts))
        elif heard.clear:
            parts = self._mark_frames(self._playout.clear(self._sample(now)), cleared=True)
            answer = self.wire.clear_ack()
            if answer is not None:
                parts.append(ws.client_frame(ws.OP_TEXT, answer))
            if parts:
                self._write(b"".join(parts))

    # --- plumbing -----------------------------------------------------------------------------------------

    def _played_mark_frames(self, now: float) -> list[bytes]:
        """The answers to the marks whose audio has played by ``now``."""
        return self._mark_frames(self._playout.pop_played_marks(self._sample(now)), cleared=False)

    def _mark_frames(self, names: list[str], *, cleared: bool) -> list[bytes]:
        """Each mark's answer as a frame; the wire leaves out those its provider never answers (Plivo's
        cleared checkpoints). Each answer takes its sequence number as it is built, in the order written."""
        frames: list[bytes] = []
        for name in names:
            answer = self.wire.mark_echo(name, cleared=cleared)
            if answer is not None:
                self.result.marks_echoed += 1
                frames.append(ws.client_frame(ws.OP_TEXT, answer))
        return frames

    def _sample(self, at_s: float) -> int:
        # The stream clock in samples at the stream's rate from frame 0's schedule, as the playout counts it.
        return round((at_s - self._t0) * self._rate_hz)

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER_BYTES:
            self.abort("server stopped reading: write buffer full")
            return
        transport.write(data)

    def _send_close(self, code: int) -> None:
        self._closing = True
        self._write(ws.client_frame(ws.OP_CLOSE, ws.close_payload(code)))
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(CLOSE_TIMEOUT_S, self._transport_close)

    def _transport_close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _count_violations(self, heard: ServerMessage) -> None:
        self.result.violations += len(heard.violations)
        if self.result.first_violation is None:
            self.result.first_violation = f"{self.wire.provider}: {heard.violations[0]}"

    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ws.HandshakeError(reason))
        self.abort(reason)


async def open_call(
    join_url: str, provider: BenchProvider, payloads: list[bytes], timeout_s: float
) -> LoadCall:
    """Connect and complete the WebSocket handshake; raise OSError, TimeoutError or HandshakeError."""
    url = urlsplit(join_url)
    host, port = url.hostname or "", url.port or 80
    if url.scheme != "ws" or host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"the load benchmark only connects to ws:// on the loopback, not {join_url}")
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        _, call = await loop.create_connection(
            lambda: LoadCall(url.path, host, port, provider, payloads), "127.0.0.1", port
        )
        try:
            await call.opened
        except BaseException:
            call.abort("handshake failed")
            raise
    return call
