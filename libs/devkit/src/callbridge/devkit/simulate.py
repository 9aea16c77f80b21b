"""``callbridge sim``: one simulated provider call against any deployment (``sim call``), with a printed
summary, a simulated provider account to place calls through (``sim account``, sim_account.py), and a
Telnyx key pair to import for a simulated caller (``sim telnyx-keys``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import wave
from typing import Any

import numpy as np
import numpy.typing as npt

from callbridge.devkit.errors import SimulatedCallError, UsageError
from callbridge.devkit.signals import read_wav, tone, write_wav
from callbridge.devkit.sim_account import add_account_parser
from callbridge.devkit.simulators.base import ProviderSimulator
from callbridge.devkit.simulators.errors import (
    SimulatorError,
    StreamConnectError,
    WebhookRejectedError,
    WebhookUnreachableError,
)
from callbridge.devkit.simulators.exotel import ExotelSimulator
from callbridge.devkit.simulators.plivo import PlivoSimulator
from callbridge.devkit.simulators.telnyx import TelnyxSimulator, private_key_from_seed
from callbridge.devkit.simulators.twilio import TwilioSimulator

PROVIDERS = ("twilio", "telnyx", "plivo", "exotel")
TONE_DBFS = -10.0
EXIT_PROTOCOL_ERRORS = 1
TELNYX_KEYS_HINT = "`callbridge sim telnyx-keys` makes a key pair"

# What to check when callbridge answers 403: the credentials each provider signs with, and for Twilio and
# Plivo the URL, which their signatures cover.
_PUBLIC_URL_HINT = (
    "and that --webhook-url is exactly the URL callbridge verifies signatures against: "
    "CALLBRIDGE_PUBLIC_BASE_URL (callbridge up --public-url) followed by /api/agents/<agentId>/telephony_xml"
)
_FORBIDDEN_HINTS = {
    "twilio": "check that --auth-token and --account-sid are the Twilio credentials imported into "
    f"callbridge, {_PUBLIC_URL_HINT}",
    "plivo": "check that --auth-id and --auth-token are the Plivo credentials imported into callbridge, "
    f"{_PUBLIC_URL_HINT}",
    "telnyx": "check that --private-key-seed belongs to the public key imported into callbridge "
    f"({TELNYX_KEYS_HINT}) and that this machine's clock is right (signatures expire after 300 s)",
    "exotel": "check that --webhook-secret is the webhookSecret imported into callbridge",
}


def parse_keys(text: str) -> list[tuple[float, str]]:
    """``"2.0:5,4.5:#"`` -> ``[(2.0, "5"), (4.5, "#")]``; the ``--dtmf`` option's type."""
    keys: list[tuple[float, str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        at, sep, key = item.partition(":")
        try:
            seconds = float(at)
        except ValueError:
            seconds = None
        if seconds is None or not sep or len(key) != 1:
            raise argparse.ArgumentTypeError(f"expected SECONDS:KEY pairs like '2.0:5,4.5:#', got {item!r}")
        keys.append((seconds, key))
    return keys


def add_sim_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = commands.add_parser(
        "sim", help="provider simulators: place a simulated call, run a simulated account, make test keys"
    )
    sim_commands = sim.add_subparsers(dest="sim_command", required=True, metavar="{call,account,telnyx-keys}")
    call = sim_commands.add_parser(
        "call",
        help="place one simulated inbound call",
        description="Place one simulated inbound call: the provider's signed webhook, then its media stream "
        "with a tone or a WAV file as the caller, and a summary of what came back.",
    )
    call.set_defaults(run=lambda args: asyncio.run(simulate_call(args)))
    call.add_argument("--provider", choices=PROVIDERS, default="twilio", help="which provider to act as")
    call.add_argument("--webhook-url", required=True, help="the agent's telephony_xml URL")
    call.add_argument("--auth-token", help="twilio, plivo: the auth token imported into callbridge")
    call.add_argument("--account-sid", help="twilio (required), telnyx, exotel: the account id")
    call.add_argument("--auth-id", help="plivo: the auth ID")
    call.add_argument(
        "--private-key-seed",
        help="telnyx: the 32-byte Ed25519 seed that signs webhooks, in hex or base64 "
        f"({TELNYX_KEYS_HINT} whose public key you import into callbridge)",
    )
    call.add_argument(
        "--public-key", help="telnyx: the configured public key (base64), checked against the seed"
    )
    call.add_argument(
        "--l16-byte-order",
        choices=["big", "little"],
        default="big",
        help="telnyx: byte order of L16 audio, which Telnyx does not document (default big, RTP's order)",
    )
    call.add_argument(
        "--webhook-secret",
        help="exotel: the webhook secret imported into callbridge (a value starting with '-' works too)",
    )
    call.add_argument(
        "--exotel-auth",
        choices=["basic", "path"],
        default="basic",
        help="exotel: send the secret as Basic auth (default) or as the URL's last path segment",
    )
    source = call.add_mutually_exclusive_group()
    source.add_argument("--wav", help="caller audio: a mono WAV file at the stream's inbound rate")
    source.add_argument("--tone-hz", type=float, default=440.0, help="caller audio: a tone (default 440 Hz)")
    call.add_argument("--duration-s", type=float, default=5.0, help="length of the generated tone")
    call.add_argument(
        "--dtmf", type=parse_keys, default=[], help="keys to press, as SECONDS:KEY pairs: '2.0:5,4.5:#'"
    )
    call.add_argument(
        "--hang-up-after-s", type=float, default=None, help="hang up this long after the stream starts"
    )
    call.add_argument("--save-heard", help="write what the caller heard to this WAV file")

    add_account_parser(sim_commands)
    keys = sim_commands.add_parser(
        "telnyx-keys",
        help="print a new Ed25519 key pair for simulated Telnyx calls",
        description="Print a new Ed25519 key pair: import the public key into callbridge's Telnyx config "
        "(publicKey) and pass the seed to `callbridge sim call --provider telnyx --private-key-seed`.",
    )
    keys.set_defaults(run=print_telnyx_keys)


def print_telnyx_keys(args: argparse.Namespace) -> int:
    seed = secrets.token_bytes(32)
    public_key = TelnyxSimulator("http://unused", private_key=seed).public_key_base64
    print("A new Ed25519 key pair for simulated Telnyx calls:")
    print(f"  --private-key-seed {seed.hex()}")
    print(f"  --public-key {public_key}")
    print(
        'Import the public key as "publicKey" of POST /api/telephony_configs/telnyx; keep the seed to sign.'
    )
    return 0


def _require(args: argparse.Namespace, *names: str, hint: str = "") -> None:
    missing = [f"--{name.replace('_', '-')}" for name in names if not getattr(args, name)]
    if missing:
        raise UsageError(f"--provider {args.provider} needs {' and '.join(missing)}{hint}")


def build_simulator(args: argparse.Namespace) -> ProviderSimulator[Any]:
    """The simulator ``--provider`` names, with its credentials; ws:// stream URLs allowed (local stacks)."""
    if args.provider == "twilio":
        _require(args, "auth_token", "account_sid")
        return TwilioSimulator(args.webhook_url, args.auth_token, args.account_sid, allow_insecure_ws=True)
    if args.provider == "telnyx":
        _require(args, "private_key_seed", hint=f": the seed of the public key imported into callbridge; "
                 f"{TELNYX_KEYS_HINT}")  # fmt: skip
        try:
            key = private_key_from_seed(args.private_key_seed)
        except ValueError as exc:
            raise UsageError(f"--private-key-seed: {exc}") from exc
        telnyx = TelnyxSimulator(
            args.webhook_url,
            private_key=key,
            account_sid=args.account_sid,
            l16_byte_order=args.l16_byte_order,
            allow_insecure_ws=True,
        )
        if args.public_key and args.public_key != telnyx.public_key_base64:
            raise UsageError(
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


def wav_format(path: str) -> tuple[int, int]:
    """(sample rate in Hz, channels) of a WAV file, or UsageError saying why it cannot be the caller."""
    try:
        with wave.open(path, "rb") as reader:
            return reader.getframerate(), reader.getnchannels()
    except FileNotFoundError:
        raise UsageError(f"--wav {path}: no such file") from None
    except (OSError, EOFError, wave.Error) as exc:
        raise UsageError(f"--wav {path}: not a PCM WAV file ({exc})") from exc


def caller_wav(path: str, rate_hz: int, provider: str) -> npt.NDArray[np.int16]:
    """The caller's audio from ``path``, which must already be mono at the stream's rate."""
    file_rate_hz, channels = wav_format(path)
    if channels != 1:
        raise UsageError(
            f"--wav {path}: {channels} channels at {file_rate_hz} Hz; a caller sends mono audio: convert it "
            f"first (e.g. sox {path} -c 1 -r {rate_hz} caller.wav)"
        )
    if file_rate_hz != rate_hz:
        raise UsageError(
            f"--wav {path}: {file_rate_hz} Hz; this {provider} stream takes {rate_hz} Hz mono: convert it "
            f"first (e.g. sox {path} -r {rate_hz} caller.wav)"
        )
    try:
        return read_wav(path)[0]
    except ValueError as exc:
        raise UsageError(f"--wav {exc}") from exc


def describe_failure(exc: SimulatorError, args: argparse.Namespace) -> str:
    """One line saying what went wrong with the simulated call and what to check."""
    if isinstance(exc, WebhookUnreachableError):
        cause = exc.__cause__ or exc
        return (
            f"cannot reach {args.webhook_url} ({type(cause).__name__}: {cause}); is callbridge running there?"
        )
    if isinstance(exc, WebhookRejectedError):
        said = f"the webhook answered HTTP {exc.status_code}: {_detail(exc.body)}"
        if exc.status_code == 403:
            return f"{said}; {_FORBIDDEN_HINTS[args.provider]}"
        if exc.status_code == 404:
            return f"{said}; check --webhook-url: /api/agents/<agentId>/telephony_xml of an agent that exists"
        return said
    if isinstance(exc, StreamConnectError):
        return f"{exc}; check CALLBRIDGE_MEDIA_PUBLIC_URL (callbridge up --media-public-url)"
    return str(exc)


def _detail(body: str) -> str:
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) else body
    return " ".join(text.split())[:300] or "(no body)"


async def simulate_call(args: argparse.Namespace) -> int:
    simulator = build_simulator(args)
    if args.wav:
        wav_format(args.wav)  # an unreadable file fails before a call is created
    try:
        answer = await simulator.incoming_call(from_number="+15005550006", to_number="+15005550001")
        rate_hz = simulator.inbound_codec(answer).sample_rate_hz  # known only from the answer (codec, rate)
        audio = (
            caller_wav(args.wav, rate_hz, args.provider)
            if args.wav
            else tone(args.tone_hz, args.duration_s, rate_hz, TONE_DBFS)
        )
        recording = await simulator.stream(
            answer, audio, dtmf=args.dtmf, hang_up_after_s=args.hang_up_after_s
        )
    except SimulatorError as exc:
        raise SimulatedCallError(describe_failure(exc, args)) from exc
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
        try:
            write_wav(args.save_heard, heard, recording.heard_rate_hz)
        except OSError as exc:
            raise UsageError(f"--save-heard {args.save_heard}: {exc.strerror or exc}") from exc
        print(f"  heard audio      {args.save_heard}")
    return 0 if not recording.violations else EXIT_PROTOCOL_ERRORS
