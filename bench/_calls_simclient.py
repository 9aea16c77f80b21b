"""The devkit's TwilioSimulator as a load client (``--client simulator``), to compare with the lean one.

Each call is the simulator's own stream (two tasks on a ``websockets`` connection, dict-built JSON), lean
settings: no heard-audio track, no per-message log. The join URL is used as the `<Stream url>` directly:
the media service authenticates by the token in it, so no TwiML round trip is needed.
"""

import asyncio
import time
from typing import TYPE_CHECKING

from callbridge.devkit.simulators.twilio import CallerAudio, TwilioSimulator, new_sid
from callbridge.devkit.simulators.twiml import TwiMLAnswer

if TYPE_CHECKING:  # see _calls_client.py
    from bench._calls_result import CallResult
else:
    from _calls_result import CallResult

# The simulator signs the upgrade with an auth token and account; the media service does not check it.
_AUTH_TOKEN = "bench-calls-auth-token"  # noqa: S105 - a throwaway local stack's


async def simulated_call(
    join_url: str, audio: CallerAudio, start_at_s: float, duration_s: float
) -> CallResult:
    """One call through the devkit simulator whose first frame is due at ``start_at_s`` (monotonic)."""
    simulator = TwilioSimulator("http://127.0.0.1/unused", _AUTH_TOKEN, new_sid("AC"), allow_insecure_ws=True)
    answer = TwiMLAnswer(
        call_sid=new_sid("CA"),
        stream_url=join_url,
        parameters={},
        hangup_follows=True,
        verbs_after_connect=("Hangup",),
        twiml="",
    )
    await asyncio.sleep(max(0.0, start_at_s - time.monotonic()))
    result = CallResult()
    try:
        recording = await simulator.stream(
            answer, audio, hang_up_after_s=duration_s, record_heard=False, record_media_messages=False
        )
    except Exception as exc:  # a failed call is counted in the report, the others go on
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    result.frames_sent = recording.frames_sent
    result.sent_at_s = recording.inbound_sent_at_s
    result.echo_at_s = recording.outbound_media_at_s
    result.echo_samples = recording.outbound_media_bytes  # μ-law: a byte per sample
    result.send_lateness_s = [recording.max_send_lateness_s]  # the simulator keeps only the largest
    result.marks_received = len(recording.marks)
    result.marks_echoed = sum(1 for mark in recording.marks if mark.echoed_at_s is not None)
    result.violations = len(recording.violations)
    result.first_violation = recording.violations[0].reason if recording.violations else None
    result.ended_by = recording.ended_by
    result.close_code = recording.close_code
    return result
