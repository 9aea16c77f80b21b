"""What the outbound end-to-end tests share: a simulated provider account imported into the stack, the URLs
a dial gives the provider, and a stand-in for the answer route a Plivo call fetches its XML from.

``plivo_answer_server`` answers Plivo's signed answer request as webhooks' route
(``/api/calls/<callId>/answer/plivo``) does, for tests that dial with the REST client themselves;
``stack_dialing`` runs the whole stack with its dialer against a simulated account.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callbridge.common.events import DialStatusChanged
from callbridge.common.models.medium import CallMedium, Provider
from callbridge.common.secrets import SecretBox
from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port
from callbridge.devkit.simulators.rest import SimulatedRestApi
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from callbridge.devkit.timeline import follow_call
from callbridge.telephony import (
    RequestNotVerified,
    StoredTelephonyConfig,
    StreamTarget,
    TelephonyApiSettings,
    provider_for,
)
from callbridge.telephony.request import Fields, Headers, ProviderRequest
from tests.e2e.helpers import API_KEY, SECRET_KEY

ANSWER_PATH = "/answer/plivo"


def stored_config(account: SimulatedRestApi, provider: Provider, box: SecretBox) -> StoredTelephonyConfig:
    """The account's credentials as callbridge stores them once imported."""
    models = provider_for(provider).credentials
    stored: StoredTelephonyConfig = models.stored.from_create(
        models.create.model_validate(account.telephony_config()), box.encrypt
    )
    return stored


async def import_account(stack: RunningStack, provider: Provider, account: SimulatedRestApi) -> None:
    """``POST /api/telephony_configs/<provider>``: the stack verifies the account's callbacks with it."""
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        response = await api.post(f"/api/telephony_configs/{provider.value}", json=account.telephony_config())
        response.raise_for_status()


def status_callback_url(
    stack: RunningStack, call_id: str, provider: Provider, account: SimulatedRestApi
) -> str:
    """The call's provider status route; Exotel's with the webhook secret as the Basic password."""
    url = f"{stack.public_base_url.rstrip('/')}/api/calls/{call_id}/provider_status/{provider.value}"
    if provider is not Provider.EXOTEL:
        return url
    secret = account.telephony_config()["webhookSecret"]
    parts = urlsplit(url)
    return parts._replace(netloc=f"exotel:{secret}@{parts.netloc}").geturl()


def client_settings(provider: Provider, api_url: str) -> TelephonyApiSettings:
    return TelephonyApiSettings.model_validate({f"{provider.value}_api_url": api_url})


@contextlib.asynccontextmanager
async def plivo_answer_server(
    config: StoredTelephonyConfig, medium: dict[str, Any], call_id: str, join_url: str, status_url: str
) -> AsyncIterator[str]:
    """Serves the call's ``<Stream>`` XML to a request signed with ``config``'s token (a Plivo config; for
    another provider's call nothing fetches it); yields its URL."""
    box = SecretBox(SECRET_KEY)
    plugin = provider_for(Provider.PLIVO)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    async def answer(request: Request) -> Response:
        body = await request.body()
        form = Fields((await request.form()).multi_items())  # type: ignore[arg-type]  # all strings: a form
        provider_request = ProviderRequest(
            request.method,
            f"{base_url}{request.url.path}",
            Headers(request.headers.items()),
            body,
            form,
            form,
        )
        try:
            plugin.verify(provider_request, config, box.decrypt, time.time())
        except RequestNotVerified as exc:
            return Response(str(exc), status_code=403)
        plan = plugin.plan_stream(config, CallMedium.model_validate(medium))
        document = plan.answer(StreamTarget(UUID(call_id), join_url, status_url))
        return Response(document.body, media_type=document.media_type)

    app = Starlette(routes=[Route(ANSWER_PATH, answer, methods=["POST"])])
    async with serve_asgi(app, "127.0.0.1", port):
        yield f"{base_url}{ANSWER_PATH}"


@contextlib.asynccontextmanager
async def stack_dialing(
    nats_url: str, provider: Provider, account: SimulatedRestApi
) -> AsyncIterator[RunningStack]:
    """The whole stack, dialer included, placing ``provider``'s calls through the simulated ``account``
    (served here, its credentials imported)."""
    async with (
        account.serve() as api_url,
        run_stack(
            StackConfig(
                nats_url=nats_url,
                api_key=API_KEY,
                secret_key=SECRET_KEY,
                provider_api_urls={provider: api_url},
            )
        ) as stack,
    ):
        await import_account(stack, provider, account)
        yield stack


async def place_call(stack: RunningStack, body: dict[str, Any], path: str = "/api/calls") -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        return await api.post(path, json=body)


async def dialer_metric(stack: RunningStack, name: str, **labels: str) -> float:
    """A sample of the dialer's ``/metrics`` (0 when absent); the transfer service's for its metrics
    (``callbridge_transfer_*``)."""
    url = stack.transfer_url if name.startswith("callbridge_transfer_") else stack.dialer_url
    async with httpx.AsyncClient(base_url=url) as client:
        text = (await client.get("/metrics")).text
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    prefix = f"{name}{{{wanted}}} " if wanted else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


async def dial_step(nats_url: str, call_id: str, status: str, timeout_s: float = 30.0) -> DialStatusChanged:
    """Wait for the call's ``dial.status`` event of ``status`` (``ringing``, ``answered``, …)."""
    async with follow_call(nats_url, call_id) as queue, asyncio.timeout(timeout_s):
        while True:
            event = await queue.get()
            if isinstance(event, DialStatusChanged) and event.status == status:
                return event
