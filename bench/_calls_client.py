"""A lean Twilio caller for load tests: one asyncio protocol per call, driven by timer callbacks, no tasks.

It plays Twilio's side of a bidirectional `<Connect><Stream>` (/work/shared/reference/provider-protocols.md
§1.2 and §1.3) as the devkit's TwilioStreamSession does: `connected`, `start`, then a `media` frame every
20 ms on the call's own absolute clock, a playout buffer that plays the server's audio in real time and
echoes each `mark` once the audio before it has played (the devkit's PlayoutBuffer, so both clients agree),
then `stop` and a close. For each inbound frame it records when it was written, and for each `media`
message from the server when it arrived and how many bytes it carried, so the echo latency can be matched
by byte offset (`CallResult.echo_latencies_s`).
"""

import asyncio
import base64
import binascii
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import orjson

from callbridge.devkit.simulators.playout import PlayoutBuffer
from callbridge.devkit.simulators.twilio import new_sid
from callbridge.devkit.simulators.twilio_wire import FRAME_S, FRAME_SAMPLES, SAMPLE_RATE_HZ

# `python bench/bench_calls.py` puts bench/ on sys.path, so the helpers import as top-level modules; mypy,
# run from the repository root with explicit package bases, knows them as bench.<module>.
if TYPE_CHECKING:
    import bench._calls_ws as ws
else:
    import _calls_ws as ws

USER_AGENT = "callbridge-bench-calls/1"
DRAIN_TIMEOUT_S = 2.0  # after the last frame: wait this long at most for its echo and marks
CLOSE_TIMEOUT_S = 2.0  # after our close frame: wait this long at most for the server to close TCP
MAX_WRITE_BUFFER_BYTES = 256 * 1024  # ~10 s of one call's frames: a server that stops reading fails the call


@dataclass(slots=True)
class CallResult:
    """What one call observed; times are ``time.monotonic()`` seconds."""

    frames_sent: int = 0
    sent_at_s: list[float] = field(default_factory=list)
    send_lateness_s: list[float] = field(default_factory=list)
    echo_at_s: list[float] = field(default_factory=list)
    echo_bytes: list[int] = field(default_factory=list)
    marks_received: int = 0
    marks_echoed: int = 0
    violations: int = 0
    first_violation: str | None = None
    error: str | None = None
    ended_by: str = ""
    close_code: int | None = None

    @property
    def echo_frames(self) -> float:
        return sum(self.echo_bytes) / FRAME_SAMPLES

    def echo_latencies_s(self) -> list[float]:
        """Arrival of each echoed message minus the send time of the inbound frame of its first byte."""
        latencies: list[float] = []
        offset = 0
        sent_at = self.sent_at_s
        for arrived_at, size in zip(self.echo_at_s, self.echo_bytes, strict=True):
            index = offset // FRAME_SAMPLES
            if index >= len(sent_at):
                break
            latencies.append(arrived_at - sent_at[index])
            offset += size
        return latencies


class TwilioLoadCall(asyncio.Protocol):
    """One simulated Twilio stream. `open_call` connects it; `start_media` starts its 20 ms clock."""

    def __init__(self, path: str, host: str, port: int, payloads: list[bytes]) -> None:
        self.result = CallResult()
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
        self._account_sid, self._call_sid, self._stream_sid = new_sid("AC"), new_sid("CA"), new_sid("MZ")
        self._sid_bytes = self._stream_sid.encode()
        # Key order of §1.2's example; every part but the counters and the payload is fixed per call.
        self._media_template = (
            b'{"event":"media","sequenceNumber":"%d","media":{"track":"inbound","chunk":"%d",'
            b'"timestamp":"%d","payload":"%b"},"streamSid":"' + self._sid_bytes + b'"}'
        )
        self._payloads = payloads
        self._playout: PlayoutBuffer[str] = PlayoutBuffer(record_heard=False, tick_samples=FRAME_SAMPLES)
        self._sequence = 0
        self._t0 = 0.0
        self._total_frames = 0
        self._next_index = 0
        self._echo_bytes_total = 0
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
        """`connected` then `start` (§1.2): the server creates the call's audio path on `start`."""
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        start = {
            "event": "start",
            "sequenceNumber": self._next_sequence(),
            "start": {
                "accountSid": self._account_sid,
                "streamSid": self._stream_sid,
                "callSid": self._call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE_HZ, "channels": 1},
                "customParameters": {},
            },
            "streamSid": self._stream_sid,
        }
        self._write(ws.client_frame(ws.OP_TEXT, orjson.dumps(connected)))
        self._write(ws.client_frame(ws.OP_TEXT, orjson.dumps(start)))

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
        parts = [self._mark_frame(name) for name in self._playout.pop_played_marks(self._sample(now))]
        self._sequence += 1
        media = self._media_template % (
            self._sequence,
            index + 1,
            index * 20,
            self._payloads[index % len(self._payloads)],
        )
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
        """After the last frame: keep playing and echoing marks until everything came back, then hang up."""
        if not self._open or self._closing:
            return
        now = time.monotonic()
        played = [self._mark_frame(name) for name in self._playout.pop_played_marks(self._sample(now))]
        if played:
            self._write(b"".join(played))
        echoed_all = self._echo_bytes_total >= self.result.frames_sent * FRAME_SAMPLES
        if (echoed_all and self._playout.pending_marks == 0) or now >= self._drain_deadline:
            self.hang_up()
        else:
            self._timer = self._loop.call_later(FRAME_S, self._drain_tick)

    def hang_up(self) -> None:
        """`stop` (§1.2), then the closing handshake; the server closes TCP, or we do after a timeout."""
        if not self._open or self._closing:
            return
        stop = {
            "event": "stop",
            "sequenceNumber": self._next_sequence(),
            "stop": {"accountSid": self._account_sid, "callSid": self._call_sid},
            "streamSid": self._stream_sid,
        }
        self.result.ended_by = "simulator"
        self._write(ws.client_frame(ws.OP_TEXT, orjson.dumps(stop)))
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
            self._violation("binary frame; Twilio expects JSON text frames")

    def _on_text(self, raw: bytes, now: float) -> None:
        if self._closing:
            return  # the call is over for the caller: nothing plays any more
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._violation("not valid JSON")
            return
        if not isinstance(message, dict) or message.get("streamSid") != self._stream_sid:
            self._violation("not an object with this stream's streamSid")
            return
        event = message.get("event")
        if event == "media":
            media = message.get("media")
            payload = media.get("payload") if isinstance(media, dict) else None
            try:
                ulaw = base64.b64decode(payload, validate=True) if isinstance(payload, str) else b""
            except binascii.Error:
                ulaw = b""
            if not ulaw:
                self._violation("media without a base64 media.payload")
                return
            self.result.echo_at_s.append(now)
            self.result.echo_bytes.append(len(ulaw))
            self._echo_bytes_total += len(ulaw)
            self._playout.enqueue_audio(self._sample(now), ulaw)
        elif event == "mark":
            body = message.get("mark")
            name = body.get("name") if isinstance(body, dict) else None
            if not isinstance(name, str):
                self._violation("mark without a string mark.name")
                return
            self.result.marks_received += 1
            sample = self._sample(now)
            # Echoes keep the order the marks were sent in: those already played go first.
            parts = [self._mark_frame(played) for played in self._playout.pop_played_marks(sample)]
            if self._playout.enqueue_mark(sample, name):  # §1.3: at once "if there is no audio buffered"
                parts.append(self._mark_frame(name))
            if parts:
                self._write(b"".join(parts))
        elif event == "clear":
            cleared = [self._mark_frame(name) for name in self._playout.clear(self._sample(now))]
            if cleared:
                self._write(b"".join(cleared))
        else:
            self._violation(f"unknown event {event!r}; Twilio accepts media, mark, clear")

    # --- plumbing -----------------------------------------------------------------------------------------

    def _mark_frame(self, name: str) -> bytes:
        self.result.marks_echoed += 1
        self._sequence += 1
        mark = b'{"event":"mark","sequenceNumber":"%d","streamSid":"%b","mark":{"name":%b}}' % (
            self._sequence,
            self._sid_bytes,
            orjson.dumps(name),
        )
        return ws.client_frame(ws.OP_TEXT, mark)

    def _next_sequence(self) -> str:
        # §1.2: one counter over every message that carries it, from "1", as a string.
        self._sequence += 1
        return str(self._sequence)

    def _sample(self, at_s: float) -> int:
        # The stream clock in 8 kHz samples from frame 0's schedule, as the playout buffer counts it.
        return round((at_s - self._t0) * SAMPLE_RATE_HZ)

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

    def _violation(self, reason: str) -> None:
        self.result.violations += 1
        if self.result.first_violation is None:
            self.result.first_violation = reason

    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ws.HandshakeError(reason))
        self.abort(reason)


async def open_call(join_url: str, payloads: list[bytes], timeout_s: float) -> TwilioLoadCall:
    """Connect and complete the WebSocket handshake; raise OSError, TimeoutError or HandshakeError."""
    url = urlsplit(join_url)
    host, port = url.hostname or "", url.port or 80
    if url.scheme != "ws" or host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"the load benchmark only connects to ws:// on the loopback, not {join_url}")
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        _, call = await loop.create_connection(
            lambda: TwilioLoadCall(url.path, host, port, payloads), "127.0.0.1", port
        )
        try:
            await call.opened
        except BaseException:
            call.abort("handshake failed")
            raise
    return call
