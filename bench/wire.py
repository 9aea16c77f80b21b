"""Micro-benchmark of the load client's wire work: µs per message built and read, per provider.

Run from the repository root: ``python -m bench.wire``. The load benchmark's client (bench/calls) builds
every inbound frame and mark answer, and reads every server message, with the devkit simulators' wire code
(callbridge.devkit.simulators.*_wire). This times exactly those calls, on the wires and caller audio the
load benchmark uses and on server messages shaped as the media service sends them, so a change to the wire
code can be judged by what it costs the load generator without running the load. Each figure is the best
of several runs of many calls (timeit), in µs. "per call-s" adds up one second of a call under load: 50
frames built and the echo read (Exotel's comes back in ten 100 ms chunks); marks are rarer and left out.
"""

import base64
import platform
import sys
import timeit
from collections.abc import Callable

import orjson

from bench.calls.providers import FRAME_MS, PROVIDERS, BenchProvider, caller_payloads

CALLS_PER_RUN = 20_000
RUNS = 5
MARK_NAME = "0.12"  # the shape of media's mark names: turn and chunk
FRAMES_PER_S = 1000 // FRAME_MS


def _twilio_messages(stream_id: str, payload: str) -> tuple[bytes, bytes]:
    media = {"event": "media", "streamSid": stream_id, "media": {"payload": payload}}
    return orjson.dumps(media), orjson.dumps(
        {"event": "mark", "streamSid": stream_id, "mark": {"name": MARK_NAME}}
    )


def _telnyx_messages(stream_id: str, payload: str) -> tuple[bytes, bytes]:
    # Media leaves out the optional stream_id (§2.3).
    return orjson.dumps({"event": "media", "media": {"payload": payload}}), orjson.dumps(
        {"event": "mark", "mark": {"name": MARK_NAME}}
    )


def _plivo_messages(stream_id: str, payload: str) -> tuple[bytes, bytes]:
    media = {"contentType": "audio/x-l16", "sampleRate": 16000, "payload": payload}
    checkpoint = {"event": "checkpoint", "streamId": stream_id, "name": MARK_NAME}
    return orjson.dumps({"event": "playAudio", "media": media}), orjson.dumps(checkpoint)


def _exotel_messages(stream_id: str, payload: str) -> tuple[bytes, bytes]:
    media = {"event": "media", "stream_sid": stream_id, "media": {"payload": payload}}
    mark = {"event": "mark", "stream_sid": stream_id, "mark": {"name": MARK_NAME}}
    return orjson.dumps(media), orjson.dumps(mark)


# What media sends each provider: its audio message and its mark (Plivo: checkpoint), in media's key order.
SERVER_MESSAGES: dict[str, Callable[[str, str], tuple[bytes, bytes]]] = {
    "twilio": _twilio_messages,
    "telnyx": _telnyx_messages,
    "plivo": _plivo_messages,
    "exotel": _exotel_messages,
}


def _best_us(call: Callable[[], object]) -> float:
    return min(timeit.repeat(call, number=CALLS_PER_RUN, repeat=RUNS)) / CALLS_PER_RUN * 1e6


def measure(provider: BenchProvider) -> tuple[float, float, float, float, float]:
    """µs to build a frame and a mark answer, to read an echo and a mark, and µs per call-second."""
    wire = provider.new_wire()
    wire.opening()
    payloads = caller_payloads(provider, provider.echo_chunk_frames)
    echo = base64.b64encode(b"".join(base64.b64decode(payload) for payload in payloads)).decode()
    media_message, mark_message = SERVER_MESSAGES[provider.name](wire.stream_id, echo)
    for message in (media_message, mark_message):  # the first audio also settles the L16 byte-order check
        heard = wire.read(message)
        if heard.violations:
            raise RuntimeError(f"{provider.name}: {heard.violations[0]}")
    frame_us = _best_us(lambda: wire.media(7, payloads[0]))
    mark_us = _best_us(lambda: wire.mark_echo(MARK_NAME, cleared=False))
    echo_us = _best_us(lambda: wire.read(media_message))
    read_mark_us = _best_us(lambda: wire.read(mark_message))
    call_s_us = FRAMES_PER_S * frame_us + FRAMES_PER_S // provider.echo_chunk_frames * echo_us
    return frame_us, mark_us, echo_us, read_mark_us, call_s_us


def main() -> int:
    print(
        f"load client wire code: µs per message, best of {RUNS} runs x {CALLS_PER_RUN}; "
        f"Python {platform.python_version()}, orjson {orjson.__version__}"
    )
    print(f"{'provider':<9}{'frame':>8}{'mark':>8}{'read echo':>11}{'read mark':>11}{'per call-s':>12}")
    for name, provider in PROVIDERS.items():
        try:
            figures = measure(provider)
        except RuntimeError as exc:
            print(f"the wire refused what media sends: {exc}", file=sys.stderr)
            return 2
        frame_us, mark_us, echo_us, read_mark_us, call_s_us = figures
        print(f"{name:<9}{frame_us:8.2f}{mark_us:8.2f}{echo_us:11.2f}{read_mark_us:11.2f}{call_s_us:12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
