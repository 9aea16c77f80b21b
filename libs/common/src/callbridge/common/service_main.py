"""The entry point every NATS worker service shares (media, the dialer, the transfer service): the command
line (``--help``, ``--version``), settings from the environment, JSON logs, SIGINT/SIGTERM as the stop, and
NATS refusing the service's credentials as one line and status 1."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from callbridge.common.bus import NatsConnectError
from callbridge.common.service_cli import load_settings, parse_service_args
from callbridge.common.settings import CommonSettings
from callbridge.common.telemetry import configure_logging

S = TypeVar("S", bound=CommonSettings)
Serve = Callable[[S, asyncio.Event], Awaitable[None]]

logger = logging.getLogger(__name__)


def run_service(
    prog: str, summary: str, settings_type: type[S], serve: Serve[S], *, uvloop: bool = False
) -> None:
    """Run ``serve(settings, stop)`` until SIGINT or SIGTERM sets ``stop`` (it then stops gracefully)."""
    parse_service_args(prog, summary, settings_type)
    settings = load_settings(prog, settings_type)
    runner: Callable[[Coroutine[Any, Any, None]], None] = asyncio.run
    if uvloop:
        try:
            import uvloop as uv
        except ImportError:
            pass
        else:
            runner = uv.run
    try:
        runner(_serve_until_signalled(prog, settings, serve))
    except NatsConnectError as exc:
        logger.error("cannot start: %s", exc)
        raise SystemExit(1) from None


async def _serve_until_signalled(prog: str, settings: S, serve: Serve[S]) -> None:
    configure_logging(settings.log_level, settings.log_format, service=prog, instance=settings.instance_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop)
