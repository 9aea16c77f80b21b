"""The ``callbridge`` command: ``callbridge up`` runs the local stack, ``callbridge sim call`` places a
simulated provider call against any callbridge deployment."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from callbridge.common.models.medium import Provider
from callbridge.common.settings import DEV_API_KEY, DEV_SECRET_KEY
from callbridge.devkit.demo import run_demo_call
from callbridge.devkit.nats_server import NatsServer
from callbridge.devkit.simulate import PROVIDERS as SIMULATED_PROVIDERS
from callbridge.devkit.simulate import simulate_call
from callbridge.devkit.stack import StackConfig, run_stack
from callbridge.telephony import PROVIDERS


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callbridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run NATS, webhooks and media in the foreground (Ctrl-C stops)")
    up.add_argument("--host", default=_env("CALLBRIDGE_HOST", "127.0.0.1"))
    up.add_argument("--webhooks-port", type=int, default=int(_env("CALLBRIDGE_PORT", "8000") or 8000))
    up.add_argument("--media-port", type=int, default=int(_env("CALLBRIDGE_MEDIA_PORT", "8001") or 8001))
    up.add_argument(
        "--public-url",
        default=_env("CALLBRIDGE_PUBLIC_BASE_URL"),
        help="URL providers reach the webhooks at (default: http://HOST:WEBHOOKS_PORT)",
    )
    up.add_argument(
        "--media-public-url",
        default=_env("CALLBRIDGE_MEDIA_PUBLIC_URL"),
        help="URL providers reach the media service at (default: ws://HOST:MEDIA_PORT)",
    )
    up.add_argument("--api-key", default=_env("CALLBRIDGE_API_KEY", DEV_API_KEY))
    up.add_argument("--secret-key", default=_env("CALLBRIDGE_SECRET_KEY", DEV_SECRET_KEY))
    up.add_argument(
        "--nats-url",
        default=_env("CALLBRIDGE_NATS_URL"),
        help="use this NATS (JetStream) instead of starting a private nats-server",
    )
    for provider, plugin in PROVIDERS.items():
        up.add_argument(
            f"--{provider.value}-api-url",
            default=_env(f"CALLBRIDGE_{provider.value.upper()}_API_URL"),
            help=f"where the services reach {plugin.display_name}'s REST API, e.g. a simulated one "
            "(default: the real API)",
        )
    up.add_argument("--no-demo", action="store_true", help="do not place the simulated demo call")
    up.add_argument("--log-level", default=_env("CALLBRIDGE_LOG_LEVEL", "WARNING"))

    sim = commands.add_parser("sim", help="provider simulators")
    sim_commands = sim.add_subparsers(dest="sim_command", required=True)
    call = sim_commands.add_parser("call", help="place one simulated inbound call")
    call.add_argument("--provider", choices=SIMULATED_PROVIDERS, default="twilio")
    call.add_argument("--webhook-url", required=True, help="the agent's telephony_xml URL")
    call.add_argument("--auth-token", help="twilio, plivo: the auth token imported into callbridge")
    call.add_argument("--account-sid", help="twilio (required), telnyx, exotel: the account id")
    call.add_argument("--auth-id", help="plivo: the auth ID")
    call.add_argument(
        "--private-key-seed", help="telnyx: the 32-byte Ed25519 seed that signs webhooks, in hex or base64"
    )
    call.add_argument(
        "--public-key", help="telnyx: the configured public key (base64), checked against the seed"
    )
    call.add_argument(
        "--l16-byte-order",
        choices=["big", "little"],
        default="big",
        help="telnyx: L16 byte order (default big)",
    )
    call.add_argument("--webhook-secret", help="exotel: the webhook secret imported into callbridge")
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
    call.add_argument("--dtmf", default="", help="keys to press, as SECONDS:KEY pairs: '2.0:5,4.5:#'")
    call.add_argument("--hang-up-after-s", type=float, default=None)
    call.add_argument("--save-heard", help="write what the caller heard to this WAV file")
    return parser


def provider_api_urls(args: argparse.Namespace) -> dict[Provider, str]:
    """The provider REST API URLs ``callbridge up`` was given (flags, else CALLBRIDGE_<PROVIDER>_API_URL)."""
    given = {provider: getattr(args, f"{provider.value}_api_url") for provider in PROVIDERS}
    return {provider: url for provider, url in given.items() if url}


async def _up(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    nats_server = None if args.nats_url else NatsServer()
    try:
        if nats_server is not None:
            nats_server.start()
        nats_url = args.nats_url or (nats_server.url if nats_server else "")
        config = StackConfig(
            nats_url=nats_url,
            api_key=args.api_key,
            secret_key=args.secret_key,
            host=args.host,
            webhooks_port=args.webhooks_port,
            media_port=args.media_port,
            public_base_url=args.public_url,
            media_public_url=args.media_public_url,
            log_level=args.log_level.upper(),
            provider_api_urls=provider_api_urls(args),
        )
        async with run_stack(config) as stack:
            print("callbridge is up")
            print(f"  NATS (JetStream)   {nats_url}{' (private, temporary)' if nats_server else ''}")
            print(f"  REST API + webhooks {stack.webhooks_url}  (docs: {stack.webhooks_url}/docs)")
            print(f"  public base URL    {stack.public_base_url}")
            print(f"  media (join URLs)  {stack.media_public_url}")
            for provider, url in config.provider_api_urls.items():
                print(f"  {PROVIDERS[provider].display_name} REST API".ljust(21) + url)
            key_note = (
                "  (development default: set CALLBRIDGE_API_KEY)" if args.api_key == DEV_API_KEY else ""
            )
            print(f"  API key            {args.api_key}{key_note}")
            if not args.no_demo:
                demo = asyncio.create_task(run_demo_call(stack, nats_url), name="demo-call")
                stopped = asyncio.create_task(stop.wait(), name="stop")
                await asyncio.wait({demo, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if not demo.done():
                    demo.cancel()
                elif demo.exception() is not None:
                    print(f"demo call failed: {demo.exception()}", file=sys.stderr)
            if not stop.is_set():
                print("press Ctrl-C to stop")
            await stop.wait()
            print("stopping")
    finally:
        if nats_server is not None:
            nats_server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if args.command == "up":
        return asyncio.run(_up(args))
    return asyncio.run(simulate_call(args))


if __name__ == "__main__":
    sys.exit(main())
