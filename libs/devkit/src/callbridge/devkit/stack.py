"""The whole callbridge stack in one process: webhooks, media, the dialer and the transfer service on one
event loop, against a NATS
server.

Used by ``callbridge up``, the end-to-end tests and the benchmark's quick mode. In production each service
runs as its own process (see docker-compose.yml and k8s/); here they share a loop but still talk only
over NATS, exactly as they do there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from pydantic import SecretStr, ValidationError

from callbridge.common.models.medium import Provider
from callbridge.common.nats_auth import NatsCredentials
from callbridge.common.service_cli import settings_problem
from callbridge.common.settings import InsecureSettingsError
from callbridge.devkit.asgi import READY_TIMEOUT_S, bind_listener, serve_asgi
from callbridge.devkit.errors import ConfigurationError, port_error
from callbridge.dialer.config import DialerSettings
from callbridge.dialer.main import serve_dialer
from callbridge.media.config import MediaSettings
from callbridge.media.main import serve_media
from callbridge.telephony import TelephonyApiSettings
from callbridge.transfer.config import TransferSettings
from callbridge.transfer.main import serve_transfer
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.main import create_app


@dataclass(frozen=True, slots=True)
class StackConfig:
    nats_url: str
    api_key: str
    secret_key: str
    host: str = "127.0.0.1"
    webhooks_port: int = 0
    media_port: int = 0
    dialer_port: int = 0
    """The dialer's health and metrics port."""
    transfer_port: int = 0
    """The transfer service's health and metrics port."""
    public_base_url: str | None = None
    media_public_url: str | None = None
    log_level: str = "WARNING"
    nats_credentials: NatsCredentials | None = None
    """None: CALLBRIDGE_NATS_* from the environment, as the services read them."""
    provider_api_urls: Mapping[Provider, str] = field(default_factory=dict)
    """Where the services reach a provider's REST API (a simulated one, say); a provider not named here:
    ``CALLBRIDGE_<PROVIDER>_API_URL``, else the real API."""

    def provider_api_settings(self) -> dict[str, Any]:
        """``provider_api_urls`` as the settings that carry them (``twilio_api_url``, …)."""
        return {f"{provider.value}_api_url": url for provider, url in self.provider_api_urls.items()}


@dataclass(frozen=True, slots=True)
class RunningStack:
    webhooks_url: str
    public_base_url: str
    media_url: str
    media_public_url: str
    api_key: str
    nats_credentials: NatsCredentials
    provider_apis: TelephonyApiSettings
    """Where the stack's services reach the providers' REST APIs."""
    dialer_url: str = ""
    """The dialer's health and metrics (``/readyz``, ``/metrics``)."""
    transfer_url: str = ""
    """The transfer service's health and metrics (``/readyz``, ``/metrics``)."""


P = ParamSpec("P")
S = TypeVar("S")


def checked(settings: Callable[P, S], *args: P.args, **kwargs: P.kwargs) -> S:
    """``settings(...)``, with what the settings refuse (production checks, bad values) as one line."""
    try:
        return settings(*args, **kwargs)
    except (InsecureSettingsError, ValidationError) as exc:
        raise ConfigurationError(settings_problem(exc) or str(exc)) from exc


@contextlib.asynccontextmanager
async def run_stack(config: StackConfig) -> AsyncIterator[RunningStack]:
    """Start webhooks, media and the dialer; stop them (media drains its calls briefly) on exit.

    Raises ConfigurationError for settings the services refuse and PortInUseError for a taken port.
    """
    # Both ports are bound here, before anything else: port 0 lets the system choose, so no other process
    # can take a port between its choice and its use (a "free port" picked ahead could be).
    webhooks_listener = _bind(config.host, config.webhooks_port, "--webhooks-port")
    try:
        media_socket = _bind(config.host, config.media_port, "--media-port")
    except BaseException:
        webhooks_listener.close()
        raise
    try:
        dialer_socket = _bind(config.host, config.dialer_port, "--dialer-port")
    except BaseException:
        webhooks_listener.close()
        media_socket.close()
        raise
    try:
        transfer_socket = _bind(config.host, config.transfer_port, "--transfer-port")
    except BaseException:
        webhooks_listener.close()
        media_socket.close()
        dialer_socket.close()
        raise
    try:
        async with (
            _running(config, webhooks_listener, media_socket) as stack,
            _dialer(config, stack, dialer_socket) as dialer_url,
            _transfer(config, stack, transfer_socket) as transfer_url,
        ):
            yield dataclasses.replace(stack, dialer_url=dialer_url, transfer_url=transfer_url)
    finally:
        webhooks_listener.close()  # the servers close them too; these are for a start that failed early
        media_socket.close()
        dialer_socket.close()
        transfer_socket.close()


@contextlib.asynccontextmanager
async def _running(
    config: StackConfig, webhooks_listener: socket.socket, media_socket: socket.socket
) -> AsyncIterator[RunningStack]:
    webhooks_port = webhooks_listener.getsockname()[1]
    media_port = media_socket.getsockname()[1]
    webhooks_url = f"http://{config.host}:{webhooks_port}"
    media_url = f"ws://{config.host}:{media_port}"
    public_base_url = config.public_base_url or webhooks_url
    media_public_url = config.media_public_url or media_url
    # Settings not given here still come from CALLBRIDGE_* environment variables.
    secret_key = SecretStr(config.secret_key)
    nats: dict[str, Any] = {} if config.nats_credentials is None else config.nats_credentials.settings()
    webhooks_settings = checked(
        WebhooksSettings,
        nats_url=config.nats_url,
        secret_key=secret_key,
        log_level=config.log_level,
        api_key=SecretStr(config.api_key),
        public_base_url=public_base_url,
        media_public_url=media_public_url,
        host=config.host,
        port=webhooks_port,
        **nats,
        **config.provider_api_settings(),
    )
    media_settings = checked(
        MediaSettings,
        nats_url=config.nats_url,
        secret_key=secret_key,
        log_level=config.log_level,
        media_host=config.host,
        media_port=media_port,
        drain_timeout_s=2.0,
        **nats,
    )

    media_stop, media_ready = asyncio.Event(), asyncio.Event()
    media_task = asyncio.create_task(
        serve_media(media_settings, media_stop, media_ready, sock=media_socket), name="media"
    )
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            ready = asyncio.create_task(media_ready.wait())
            await asyncio.wait({ready, media_task}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            if media_task.done():
                try:
                    media_task.result()  # raises what stopped it
                except OSError as exc:
                    raise port_error(exc, config.host, media_port, "--media-port") from exc
                raise RuntimeError("media stopped during start-up")
        app = create_app(webhooks_settings)
        async with serve_asgi(
            app,
            config.host,
            webhooks_port,
            config.log_level.lower(),
            webhooks_settings.connection_limits,
            listener=webhooks_listener,
        ):
            yield RunningStack(
                webhooks_url,
                public_base_url,
                media_url,
                media_public_url,
                config.api_key,
                webhooks_settings.nats_credentials,
                TelephonyApiSettings.model_validate(
                    webhooks_settings.model_dump(include=set(TelephonyApiSettings.model_fields))
                ),
            )
    finally:
        media_stop.set()
        if media_ready.is_set():
            await media_task
        else:
            # Start-up failed or was aborted: nothing to drain, and media may still be waiting for NATS.
            # What stopped it, if anything, was raised above.
            media_task.cancel()
            await asyncio.wait({media_task})
            if not media_task.cancelled():
                media_task.exception()  # retrieved: asyncio would otherwise log it again


@contextlib.asynccontextmanager
async def _dialer(config: StackConfig, stack: RunningStack, sock: socket.socket) -> AsyncIterator[str]:
    """The dialer, placing calls with the stack's public URLs and provider API URLs; yields its health URL."""
    port = sock.getsockname()[1]
    settings = checked(
        DialerSettings, dialer_host=config.host, dialer_port=port, **_worker_settings(config, stack)
    )
    async with _worker(
        "dialer", lambda stop, ready: serve_dialer(settings, stop, ready, sock=sock), config.host, port
    ) as url:
        yield url


@contextlib.asynccontextmanager
async def _transfer(config: StackConfig, stack: RunningStack, sock: socket.socket) -> AsyncIterator[str]:
    """The transfer service, with the stack's public URL and provider API URLs; yields its health URL."""
    port = sock.getsockname()[1]
    settings = checked(
        TransferSettings, transfer_host=config.host, transfer_port=port, **_worker_settings(config, stack)
    )
    async with _worker(
        "transfer", lambda stop, ready: serve_transfer(settings, stop, ready, sock=sock), config.host, port
    ) as url:
        yield url


def _worker_settings(config: StackConfig, stack: RunningStack) -> dict[str, Any]:
    """What the dialer and the transfer service share: NATS, the secret key, the stack's public URLs (given
    to the providers) and its provider API URLs."""
    nats: dict[str, Any] = {} if config.nats_credentials is None else config.nats_credentials.settings()
    return {
        "nats_url": config.nats_url,
        "secret_key": SecretStr(config.secret_key),
        "log_level": config.log_level,
        "public_base_url": stack.public_base_url,
        "media_public_url": stack.media_public_url,
        **nats,
        **stack.provider_apis.model_dump(),
    }


Serve = Callable[[asyncio.Event, asyncio.Event], Coroutine[Any, Any, None]]


@contextlib.asynccontextmanager
async def _worker(name: str, serve: Serve, host: str, port: int) -> AsyncIterator[str]:
    """Run a worker service (dialer, transfer) until the stack stops; yields its health URL."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(stop, ready), name=name)
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            waiting = asyncio.create_task(ready.wait())
            await asyncio.wait({waiting, task}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError(f"the {name} service stopped during start-up")
        yield f"http://{host}:{port}"
    finally:
        stop.set()
        if ready.is_set():
            await task
        else:
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved: raised above, or the start was aborted


def _bind(host: str, port: int, flag: str) -> socket.socket:
    try:
        return bind_listener(host, port)
    except OSError as exc:
        raise port_error(exc, host, port, flag) from exc
