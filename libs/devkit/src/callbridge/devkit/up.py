"""``callbridge up``: NATS, webhooks, media, the dialer and the transfer service in the foreground, and
simulated demo calls (one in, one out).

Start-up order is data directory, nats-server, media, webhooks; shutdown runs the other way, so the services
close their NATS connections before the private nats-server stops. That server runs in its own session:
a terminal's Ctrl-C reaches only this process, which then stops everything in that order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

import nats
from nats.errors import Error as NatsError
from nats.js.errors import APIError, BucketNotFoundError, KeyNotFoundError

from callbridge.common import buckets
from callbridge.common.models.medium import Provider
from callbridge.common.nats_auth import NO_CREDENTIALS, NatsCredentials
from callbridge.common.settings import DEV_API_KEY, DEV_SECRET_KEY, CommonSettings
from callbridge.devkit.datadir import DEFAULT_DATA_DIR, DataDir, open_data_dir
from callbridge.devkit.demo import demo_callee_account, run_demo_call
from callbridge.devkit.errors import ConfigurationError, NatsUnavailableError, UsageError
from callbridge.devkit.nats_server import NatsServer
from callbridge.devkit.provision import SIMULATED_ACCOUNT_SID
from callbridge.devkit.simulators.rest import TwilioRestApi
from callbridge.devkit.stack import RunningStack, StackConfig, checked, run_stack
from callbridge.telephony import PROVIDERS

NATS_CHECK_TIMEOUT_S = 5.0
DEMO_RECORDING = "callbridge-demo-heard.wav"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def add_up_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = commands.add_parser(
        "up",
        help="run NATS, webhooks, media and the dialer in the foreground (Ctrl-C stops)",
        description="Run the whole stack in the foreground: a private nats-server (JetStream, data kept in "
        "the data directory), the webhooks service (REST API), the media service and the dialer, then "
        "place a simulated demo call in and one out (through a simulated Twilio account, unless "
        "--twilio-api-url is given or real Twilio credentials are imported). Ctrl-C stops everything. "
        "Each option defaults to its environment variable.",
    )
    up.set_defaults(run=lambda args: asyncio.run(run_up(args)))
    up.add_argument(
        "--host", default=_env("CALLBRIDGE_HOST", "127.0.0.1"), help="address both services listen on "
        "(CALLBRIDGE_HOST, default 127.0.0.1)"
    )  # fmt: skip
    up.add_argument(
        "--webhooks-port",
        type=int,
        default=_env("CALLBRIDGE_PORT", "8000"),  # a string: argparse converts (and checks) it
        help="port of the REST API and webhooks (CALLBRIDGE_PORT, default 8000)",
    )
    up.add_argument(
        "--media-port",
        type=int,
        default=_env("CALLBRIDGE_MEDIA_PORT", "8001"),
        help="port of the media WebSockets (CALLBRIDGE_MEDIA_PORT, default 8001)",
    )
    up.add_argument(
        "--dialer-port",
        type=int,
        default=_env("CALLBRIDGE_DIALER_PORT", "0"),
        help="port of the dialer's /readyz and /metrics (CALLBRIDGE_DIALER_PORT, default 0: any free port)",
    )
    up.add_argument(
        "--transfer-port",
        type=int,
        default=_env("CALLBRIDGE_TRANSFER_PORT", "0"),
        help="port of the transfer service's /readyz and /metrics (CALLBRIDGE_TRANSFER_PORT, default 0: "
        "any free port)",
    )
    up.add_argument(
        "--public-url",
        default=_env("CALLBRIDGE_PUBLIC_BASE_URL"),
        help="URL providers reach the webhooks at; Twilio and Plivo sign over it "
        "(CALLBRIDGE_PUBLIC_BASE_URL, default http://HOST:WEBHOOKS_PORT)",
    )
    up.add_argument(
        "--media-public-url",
        default=_env("CALLBRIDGE_MEDIA_PUBLIC_URL"),
        help="URL providers reach the media service at; join URLs start with it "
        "(CALLBRIDGE_MEDIA_PUBLIC_URL, default ws://HOST:MEDIA_PORT)",
    )
    up.add_argument(
        "--api-key",
        default=_env("CALLBRIDGE_API_KEY", DEV_API_KEY),
        help=f"the X-API-Key of every /api route (CALLBRIDGE_API_KEY, default {DEV_API_KEY})",
    )
    up.add_argument(
        "--secret-key",
        default=_env("CALLBRIDGE_SECRET_KEY", DEV_SECRET_KEY),
        help="signs join URLs and encrypts stored provider credentials; keep it the same for a data "
        "directory, or what was stored cannot be decrypted (CALLBRIDGE_SECRET_KEY, default a "
        "development value)",
    )
    up.add_argument(
        "--nats-url",
        default=_env("CALLBRIDGE_NATS_URL"),
        help="use this NATS (with JetStream) instead of starting a private nats-server; the data is then "
        "kept there (CALLBRIDGE_NATS_URL)",
    )
    data = up.add_mutually_exclusive_group()
    data.add_argument(
        "--data-dir",
        type=Path,
        default=Path(_env("CALLBRIDGE_DATA_DIR") or DEFAULT_DATA_DIR),
        help="where the private nats-server keeps agents, credentials and calls across restarts "
        f"(CALLBRIDGE_DATA_DIR, default {DEFAULT_DATA_DIR}/ in the current directory)",
    )
    data.add_argument(
        "--ephemeral",
        action="store_true",
        help="keep nothing: a temporary data directory, removed on exit",
    )
    for provider, plugin in PROVIDERS.items():
        up.add_argument(
            f"--{provider.value}-api-url",
            default=_env(f"CALLBRIDGE_{provider.value.upper()}_API_URL"),
            help=f"where the services reach {plugin.display_name}'s REST API, a simulated one for instance "
            f"(CALLBRIDGE_{provider.value.upper()}_API_URL, default: the real API)",
        )
    up.add_argument("--no-demo", action="store_true", help="do not place the simulated demo calls")
    up.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=_env("CALLBRIDGE_LOG_LEVEL", "WARNING"),
        help="what the services log (CALLBRIDGE_LOG_LEVEL, default WARNING)",
    )


async def run_up(args: argparse.Namespace) -> int:
    """Run until Ctrl-C (SIGINT) or SIGTERM. A signal during start-up, or a second one while stopping,
    cancels what is under way; the private nats-server is stopped in every case."""
    stop = asyncio.Event()
    started = False
    main_task = asyncio.current_task()
    assert main_task is not None  # run_up runs as asyncio.run's task

    def on_signal() -> None:
        if started and not stop.is_set():
            stop.set()
        else:
            main_task.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    def on_started() -> None:
        nonlocal started
        started = True

    try:
        await _run(args, stop, on_started)
    except asyncio.CancelledError:
        print("stopped", file=sys.stderr)
    return 0


async def _run(args: argparse.Namespace, stop: asyncio.Event, on_started: Callable[[], None]) -> None:
    if args.nats_url:
        await require_jetstream(args.nats_url, _environment_credentials())
    with open_data_dir(None if args.ephemeral else args.data_dir) as data_dir:
        async with (
            _nats(args, data_dir) as (nats_url, private),
            demo_account(args, nats_url) as demo_callee,
            run_stack(_stack_config(args, nats_url, demo_callee)) as stack,
        ):
            on_started()
            _print_summary(args, stack, data_dir, nats_url, private=private)
            if demo_callee is not None:
                print(
                    f"  Twilio REST API     {demo_callee.base_url}  (the demo's simulated account: "
                    "--twilio-api-url or --no-demo for the real one)",
                    flush=True,
                )
            if private and data_dir.secret_key_changed(args.secret_key):
                _warn_secret_key_changed(data_dir)
            if not args.no_demo:
                await _demo(stack, nats_url, data_dir, stop, demo_callee)
            if not stop.is_set():
                print("press Ctrl-C to stop", flush=True)
            await stop.wait()
            print("stopping", flush=True)


@contextlib.asynccontextmanager
async def _nats(args: argparse.Namespace, data_dir: DataDir) -> AsyncIterator[tuple[str, bool]]:
    """(NATS URL, whether it is the private server); the private one stops when this exits."""
    if args.nats_url:
        yield args.nats_url, False
        return
    try:
        server = NatsServer(store_dir=data_dir.jetstream_dir)
    except RuntimeError as exc:  # not installed
        raise NatsUnavailableError(f"{exc}, or pass --nats-url") from exc
    try:
        server.start()
    except RuntimeError as exc:
        raise NatsUnavailableError(f"the private {exc}".replace("\n", " ")) from exc
    try:
        data_dir.record_nats_server(server.pid)
        yield server.url, True
    finally:
        server.stop()
        data_dir.record_nats_server(None)


@contextlib.asynccontextmanager
async def demo_account(args: argparse.Namespace, nats_url: str) -> AsyncIterator[TwilioRestApi | None]:
    """The simulated Twilio account the outbound demo call goes through, serving; None when there is no
    demo, another Twilio API is given, or real Twilio credentials are imported (their calls must reach
    Twilio)."""
    if args.no_demo or provider_api_urls(args).get(Provider.TWILIO):
        yield None
        return
    if await _imported_twilio_account(nats_url) not in (None, SIMULATED_ACCOUNT_SID):
        yield None
        return
    account = demo_callee_account(
        allow_insecure_ws=not args.media_public_url or "wss://" not in args.media_public_url
    )
    async with account.serve(args.host):
        yield account


async def _imported_twilio_account(nats_url: str) -> str | None:
    """The account SID of the Twilio credentials stored in NATS, or None."""
    client = await nats.connect(
        nats_url, connect_timeout=NATS_CHECK_TIMEOUT_S, **_environment_credentials().connect_options()
    )
    try:
        kv = await client.jetstream().key_value(buckets.TELEPHONY_CONFIGS)
        entry = await kv.get(Provider.TWILIO.value)
    except (BucketNotFoundError, KeyNotFoundError):
        return None
    finally:
        await client.close()
    try:
        stored = json.loads(entry.value or b"{}")
    except ValueError:
        return "unreadable"  # not the demo's: leave it alone
    sid = stored.get("accountSid", stored.get("account_sid")) if isinstance(stored, dict) else None
    return str(sid) if sid is not None else "unknown"


def _stack_config(
    args: argparse.Namespace, nats_url: str, demo_account: TwilioRestApi | None = None
) -> StackConfig:
    api_urls = provider_api_urls(args)
    if demo_account is not None and demo_account.base_url is not None:
        api_urls[Provider.TWILIO] = demo_account.base_url
    return StackConfig(
        nats_url=nats_url,
        api_key=args.api_key,
        secret_key=args.secret_key,
        host=args.host,
        webhooks_port=args.webhooks_port,
        media_port=args.media_port,
        dialer_port=args.dialer_port,
        transfer_port=args.transfer_port,
        public_base_url=args.public_url,
        media_public_url=args.media_public_url,
        log_level=args.log_level.upper(),
        provider_api_urls=api_urls,
    )


def provider_api_urls(args: argparse.Namespace) -> dict[Provider, str]:
    """The provider REST API URLs ``callbridge up`` was given (flags, else CALLBRIDGE_<PROVIDER>_API_URL)."""
    given = {provider: getattr(args, f"{provider.value}_api_url") for provider in PROVIDERS}
    return {provider: url for provider, url in given.items() if url}


def _environment_credentials() -> NatsCredentials:
    """The NATS credentials the services will read from CALLBRIDGE_NATS_*, checked as they check them."""
    try:
        return checked(CommonSettings).nats_credentials
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc


async def require_jetstream(url: str, credentials: NatsCredentials = NO_CREDENTIALS) -> None:
    """Fail at once, in one line, when NATS at ``url`` cannot be reached (with ``credentials``) or has no
    JetStream (the services would wait for it forever)."""
    if urlsplit(url).scheme not in ("nats", "tls", "ws", "wss"):
        raise UsageError(f"--nats-url {url}: expected nats://HOST:PORT")
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    try:
        async with asyncio.timeout(NATS_CHECK_TIMEOUT_S):
            client = await nats.connect(
                url,
                connect_timeout=NATS_CHECK_TIMEOUT_S,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # nats-py gives up after this many retries per server, not 0
                reconnect_time_wait=0.1,
                error_cb=on_error,
                **credentials.connect_options(),
            )
    except (NatsError, OSError) as exc:
        cause = errors[-1] if errors else exc
        reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        raise NatsUnavailableError(
            f"cannot reach NATS at {url} ({reason}): start it, or leave out --nats-url to run a private one"
        ) from exc
    try:
        async with asyncio.timeout(NATS_CHECK_TIMEOUT_S):
            await client.jetstream().account_info()
    except (NatsError, APIError, TimeoutError) as exc:
        raise NatsUnavailableError(
            f"NATS at {url} has no JetStream ({type(exc).__name__}): run nats-server with -js"
        ) from exc
    finally:
        await client.close()


def _print_summary(
    args: argparse.Namespace, stack: RunningStack, data_dir: DataDir, nats_url: str, *, private: bool
) -> None:
    print("callbridge is up")
    print(f"  NATS (JetStream)    {nats_url}{' (private)' if private else ''}")
    if not private:
        print("  data                kept in that NATS")
    elif data_dir.ephemeral:
        print("  data directory      temporary, removed on exit (--ephemeral)")
    else:
        print(f"  data directory      {data_dir.path}  (agents, credentials and calls are kept)")
    print(f"  REST API + webhooks {stack.webhooks_url}  (docs: {stack.webhooks_url}/docs)")
    print(f"  public base URL     {stack.public_base_url}")
    print(f"  media (join URLs)   {stack.media_public_url}")
    print(f"  dialer              {stack.dialer_url}  (/readyz, /metrics)")
    print(f"  transfer            {stack.transfer_url}  (/readyz, /metrics)")
    for provider, url in provider_api_urls(args).items():
        print(f"  {PROVIDERS[provider].display_name} REST API".ljust(22) + url)
    key_note = "  (development default: set CALLBRIDGE_API_KEY)" if args.api_key == DEV_API_KEY else ""
    print(f"  API key             {args.api_key}{key_note}", flush=True)


def _warn_secret_key_changed(data_dir: DataDir) -> None:
    print(
        f"warning: the secret key is not the one {data_dir.path} was last used with: provider "
        "credentials stored with the other key cannot be decrypted, and calls that need them are refused. "
        "Use that key again (--secret-key or CALLBRIDGE_SECRET_KEY), import the credentials again, or "
        "pass another --data-dir.",
        file=sys.stderr,
        flush=True,
    )


async def _demo(
    stack: RunningStack,
    nats_url: str,
    data_dir: DataDir,
    stop: asyncio.Event,
    outbound: TwilioRestApi | None,
) -> None:
    # With --ephemeral the data directory goes on exit; the recording stays, under one fixed name.
    recording = (
        Path(tempfile.gettempdir()) / DEMO_RECORDING if data_dir.ephemeral else data_dir.demo_recording
    )
    demo = asyncio.create_task(run_demo_call(stack, nats_url, recording, outbound), name="demo-call")
    stopped = asyncio.create_task(stop.wait(), name="stop")
    try:
        await asyncio.wait({demo, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not demo.done():
            demo.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await demo
    if not demo.cancelled() and demo.exception() is not None:
        print(f"demo call failed: {demo.exception()}", file=sys.stderr)
