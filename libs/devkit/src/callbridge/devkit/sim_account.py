"""``callbridge sim account``: a simulated provider account in the foreground, for trying outbound calls
without one: the provider's REST API (dial, hang up, fetch) and its callees, scripted per dialed number.

It prints the API URL to give callbridge (``CALLBRIDGE_<PROVIDER>_API_URL`` or ``callbridge up
--<provider>-api-url``), the credentials to import, and a line for each step of each call; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from typing import Any

from callbridge.common.models.medium import Provider
from callbridge.devkit.errors import UsageError, port_error
from callbridge.devkit.signals import read_wav
from callbridge.devkit.simulators.rest import (
    CalleeScript,
    ExotelRestApi,
    OutboundCall,
    PlivoRestApi,
    ScriptError,
    SimulatedRestApi,
    TelnyxRestApi,
    TwilioRestApi,
)
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.simulators.telnyx import private_key_from_seed

DEFAULT_PORT = 8700
SCRIPT_HELP = (
    "what a dialed number does, as NUMBER=BEHAVIOUR: the number in E.164 or a pattern (*7: every number "
    "ending in 7, *: all); BEHAVIOUR is answers_and_speaks, answers_after(SECONDS), answers_silent, "
    "phone_menu (an IVR answering keys pressed in band), busy, no_answer, fails or rate_limited, "
    "with options such as answers_and_speaks(wav=hello.wav, hold_s=8); "
    "the first rule that matches wins (repeat the option)"
)


def add_account_parser(sim_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    account = sim_commands.add_parser(
        "account",
        help="run a simulated provider account that callbridge can place calls through",
        description="Run a simulated provider account in the foreground: the provider's REST API for calls "
        "and scripted callees that answer, speak, stay silent, are busy, ring out, fail or are rate limited, "
        "with the provider's signed status callbacks and its media stream on answer. Point callbridge at the "
        "printed API URL and import the printed credentials. Ctrl-C stops it.",
    )
    account.set_defaults(run=lambda args: asyncio.run(run_account(args)))
    account.add_argument("--provider", choices=[p.value for p in Provider], required=True)
    account.add_argument("--host", default="127.0.0.1", help="where the API listens (default 127.0.0.1)")
    account.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"its port (default {DEFAULT_PORT}; 0: any free port)"
    )
    account.add_argument(
        "--script", action="append", default=[], metavar="NUMBER=BEHAVIOUR", help=SCRIPT_HELP
    )
    account.add_argument(
        "--default",
        default="answers_and_speaks",
        metavar="BEHAVIOUR",
        help="what a number no --script rule matches does (default answers_and_speaks)",
    )
    account.add_argument(
        "--wss-only",
        action="store_true",
        help="stream only to wss:// URLs, as the real providers do (by default ws:// works too, for a local "
        "stack without TLS)",
    )
    credentials = account.add_argument_group("credentials (made up when not given)")
    credentials.add_argument("--account-sid", help="twilio, telnyx, exotel: the account id")
    credentials.add_argument("--auth-token", help="twilio, plivo: the auth token")
    credentials.add_argument("--auth-id", help="plivo: the auth id")
    credentials.add_argument("--api-key", help="telnyx, exotel: the API key")
    credentials.add_argument("--api-token", help="exotel: the API token")
    credentials.add_argument(
        "--private-key-seed", help="telnyx: the Ed25519 seed (hex or base64) that signs its webhooks"
    )
    credentials.add_argument("--connection-id", help="telnyx: the Call Control application id")
    credentials.add_argument("--webhook-secret", help="exotel: the webhookSecret to import with it")


def build_account(args: argparse.Namespace) -> SimulatedRestApi:
    """The account ``args`` describe; UsageError for a script or a credential that cannot be used."""
    try:
        script = CalleeScript.parse(args.script, default=args.default)
    except ScriptError as exc:
        raise UsageError(f"--script: {exc}") from exc
    for behaviour in [rule.behaviour for rule in script.rules] + [script.default]:
        if behaviour.wav is not None:
            try:
                read_wav(behaviour.wav)
            except (OSError, ValueError) as exc:
                raise UsageError(f"--script: wav={behaviour.wav}: {exc}") from exc
    options: dict[str, Any] = {"script": script, "allow_insecure_ws": not args.wss_only}
    provider = Provider(args.provider)
    fresh = new_account(provider, **options)
    config = fresh.telephony_config()
    if provider is Provider.TWILIO:
        return TwilioRestApi(
            args.account_sid or config["accountSid"], args.auth_token or config["authToken"], **options
        )
    if provider is Provider.TELNYX:
        assert isinstance(fresh, TelnyxRestApi)
        try:
            key = private_key_from_seed(args.private_key_seed) if args.private_key_seed else fresh.private_key
        except ValueError as exc:
            raise UsageError(f"--private-key-seed: {exc}") from exc
        return TelnyxRestApi(
            args.api_key or config["apiKey"],
            private_key=key,
            connection_id=args.connection_id or config["applicationSid"],
            account_id=args.account_sid or config["accountSid"],
            **options,
        )
    if provider is Provider.PLIVO:
        return PlivoRestApi(
            args.auth_id or config["authId"], args.auth_token or config["authToken"], **options
        )
    return ExotelRestApi(
        args.account_sid or config["accountSid"],
        args.api_key or config["apiKey"],
        args.api_token or config["apiToken"],
        webhook_secret=args.webhook_secret or config["webhookSecret"],
        **options,
    )


async def run_account(args: argparse.Namespace) -> int:
    """Serve the account until Ctrl-C (SIGINT) or SIGTERM; 0 when stopped so."""
    account = build_account(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    account.outbound.observers.append(_print_step)
    async with contextlib.AsyncExitStack() as running:
        try:
            api_url = await running.enter_async_context(account.serve(args.host, args.port))
        except OSError as exc:
            raise port_error(exc, args.host, args.port, "--port") from exc
        _print_summary(args, account, api_url)
        await stop.wait()
        print("stopping", flush=True)
    return 0


def _print_summary(args: argparse.Namespace, account: SimulatedRestApi, api_url: str) -> None:
    provider = args.provider
    variable = f"CALLBRIDGE_{provider.upper()}_API_URL"
    print(f"Simulated {account.name} account: its API is at {api_url}")
    print(
        f"  point callbridge at it:  {variable}={api_url}  (or: callbridge up --{provider}-api-url {api_url})"
    )
    print(f"  import its credentials:  POST /api/telephony_configs/{provider} with")
    print(f"    {json.dumps(account.telephony_config())}")
    script = account.outbound.script
    for rule in script.rules:
        print(f"  callee {rule.pattern:>16}  {rule.behaviour}")
    print(f"  callee {'anyone else':>16}  {script.default}")
    if account.outbound.allow_insecure_ws:
        print("  streams to ws:// URLs as well as wss:// (the real providers take wss:// only)")
    print("press Ctrl-C to stop", flush=True)


def _print_step(call: OutboundCall, step: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"{stamp} {call.provider} call {call.call_id} to {call.to}: {step}", flush=True)
