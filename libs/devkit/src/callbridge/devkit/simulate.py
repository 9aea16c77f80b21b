"""``callbridge sim call``: one simulated provider call against any deployment, with a printed summary."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from callbridge.devkit.signals import tone, write_wav
from callbridge.devkit.simulators.base import ProviderSimulator
from callbridge.devkit.simulators.caller_audio import AudioSource
from callbridge.devkit.simulators.exotel import ExotelSimulator
from callbridge.devkit.simulators.plivo import PlivoSimulator
from callbridge.devkit.simulators.telnyx import TelnyxSimulator, private_key_from_seed
from callbridge.devkit.simulators.twilio import TwilioSimulator

PROVIDERS = ("twilio", "telnyx", "plivo", "exotel")
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


def _require(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{name.replace('_', '-')}" for name in names if not getattr(args, name)]
    if missing:
        raise SystemExit(f"--provider {args.provider} needs {' and '.join(missing)}")


def build_simulator(args: argparse.Namespace) -> ProviderSimulator[Any]:
    """The simulator ``--provider`` names, with its credentials; ws:// stream URLs allowed (local stacks)."""
    if args.provider == "twilio":
        _require(args, "auth_token", "account_sid")
        return TwilioSimulator(args.webhook_url, args.auth_token, args.account_sid, allow_insecure_ws=True)
    if args.provider == "telnyx":
        _require(args, "private_key_seed")
        try:
            key = private_key_from_seed(args.private_key_seed)
        except ValueError as exc:
            raise SystemExit(f"--private-key-seed: {exc}") from exc
        telnyx = TelnyxSimulator(
            args.webhook_url,
            private_key=key,
            account_sid=args.account_sid,
            l16_byte_order=args.l16_byte_order,
            allow_insecure_ws=True,
        )
        if args.public_key and args.public_key != telnyx.public_key_base64:
            raise SystemExit(
                f"--public-key does not match the seed, whose public key is {telnyx.public_key_base64}"
            )
        return telnyx
    if args.provider == "plivo":
        _require(args, "auth_id", "auth_token")
        return PlivoSimulator(args.webhook_url, args.auth_id, args.auth_token, allow_insecure_ws=True)
    _require(args, "webhook_secret")
    return ExotelSimulator(
        args.webhook_url, args.webhook_secret, auth=args.exotel_auth, allow_insecure_ws=True
    )


async def simulate_call(args: argparse.Namespace) -> int:
    simulator = build_simulator(args)
    dtmf = parse_keys(args.dtmf)
    answer = await simulator.incoming_call(from_number="+15005550006", to_number="+15005550001")
    rate_hz = simulator.inbound_codec(answer).sample_rate_hz  # known only from the answer (codec, rate)
    audio: AudioSource = args.wav if args.wav else tone(args.tone_hz, args.duration_s, rate_hz, TONE_DBFS)
    recording = await simulator.stream(answer, audio, dtmf=dtmf, hang_up_after_s=args.hang_up_after_s)
    heard = recording.heard if recording.heard is not None else np.zeros(0, dtype=np.int16)
    print(f"{args.provider} call {recording.call_sid} (stream {recording.stream_sid})")
    print(f"  stream URL       {answer.stream_url}")
    inbound = f"{recording.inbound_encoding}/{recording.sample_rate_hz}"
    print(f"  audio            {inbound} in, {recording.outbound_encoding}/{recording.heard_rate_hz} out")
    print(f"  frames sent      {recording.frames_sent}")
    received = recording.outbound_media_bytes
    cleared = sum(1 for m in recording.marks if m.cleared)
    print(f"  media received   {len(received)} messages, {sum(received)} bytes")
    print(f"  marks            {len(recording.marks)} ({cleared} cleared)")
    print(f"  clears           {len(recording.clears_at_s)}")
    print(f"  protocol errors  {len(recording.violations)}")
    for violation in recording.violations[:5]:
        print(f"    {violation.at_s:7.3f}s {violation.reason}")
    reason = recording.close_reason or ""
    print(f"  ended by         {recording.ended_by} (code {recording.close_code} {reason})")
    if args.save_heard:
        write_wav(args.save_heard, heard, recording.heard_rate_hz)
        print(f"  heard audio      {args.save_heard}")
    return 0 if not recording.violations else 1
