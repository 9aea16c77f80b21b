"""``callbridge sim call``: one simulated provider call against any deployment, with a printed summary."""

from __future__ import annotations

import argparse

import numpy as np

from callbridge.devkit.signals import tone, write_wav
from callbridge.devkit.simulators.twilio import AudioSource, TwilioSimulator

SAMPLE_RATE_HZ = 8000
TONE_DBFS = -10.0


def parse_keys(text: str) -> list[tuple[float, str]]:
    """``"2.0:5,4.5:#"`` -> ``[(2.0, "5"), (4.5, "#")]``."""
    keys: list[tuple[float, str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        at, sep, key = item.partition(":")
        if not sep or len(key) != 1:
            raise SystemExit(f"--dtmf: expected SECONDS:KEY, got {item!r}")
        keys.append((float(at), key))
    return keys


async def simulate_call(args: argparse.Namespace) -> int:
    audio: AudioSource = (
        args.wav if args.wav else tone(args.tone_hz, args.duration_s, SAMPLE_RATE_HZ, TONE_DBFS)
    )
    simulator = TwilioSimulator(args.webhook_url, args.auth_token, args.account_sid, allow_insecure_ws=True)
    call = await simulator.place_call(audio, dtmf=parse_keys(args.dtmf), hang_up_after_s=args.hang_up_after_s)
    recording = call.recording
    heard = recording.heard if recording.heard is not None else np.zeros(0, dtype=np.int16)
    print(f"call {call.answer.parameters.get('callId', '?')} (CallSid {call.answer.call_sid})")
    print(f"  stream URL       {call.answer.stream_url}")
    print(f"  frames sent      {recording.frames_sent}")
    received = recording.outbound_media_bytes
    cleared = sum(1 for m in recording.marks if m.cleared)
    print(f"  media received   {len(received)} messages, {sum(received)} bytes")
    print(f"  marks            {len(recording.marks)} ({cleared} cleared)")
    print(f"  clears           {len(recording.clears_at_s)}")
    print(f"  protocol errors  {len(recording.violations)}")
    reason = recording.close_reason or ""
    print(f"  ended by         {recording.ended_by} (code {recording.close_code} {reason})")
    if args.save_heard:
        write_wav(args.save_heard, heard, SAMPLE_RATE_HZ)
        print(f"  heard audio      {args.save_heard}")
    return 0 if not recording.violations else 1
