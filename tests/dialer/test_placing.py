"""The dialer's placing of one call against a real nats-server and a simulated provider account: two
replicas holding the same dial request dial once; a refused account ends the call ``dial_failed``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from faststream.nats import NatsBroker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from callbridge.common.bus import (
    EventPublisher,
    Stores,
    connect_broker,
    create_broker,
    ensure_jetstream,
    open_stores,
    stop_broker,
)
from callbridge.common.dialing import DialCall
from callbridge.common.ids import new_call_id
from callbridge.common.join_tokens import JoinTokenSigner
from callbridge.common.models.call import Call, EndReason
from callbridge.common.models.medium import CallMedium, Provider
from callbridge.common.secrets import SecretBox
from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.simulators.rest import CalleeScript, TwilioRestApi
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.dialer.placing import CallPlacer, PlaceOutcome, RetryPolicy
from callbridge.dialer.urls import DialUrls
from callbridge.telephony import RestClients, TelephonyApiSettings, TelephonyConfigs
from tests.e2e.helpers import SECRET_KEY
from tests.e2e.outbound import stored_config

PUBLIC_URL = "http://127.0.0.1:9"  # nothing listens: the callee here is busy, and its callbacks go nowhere


@pytest.fixture
async def stores(nats_url: str, clean_jetstream: None) -> AsyncIterator[tuple[NatsBroker, Stores]]:
    broker = create_broker(nats_url)
    connection = await connect_broker(broker, nats_url)
    await ensure_jetstream(connection)
    try:
        yield broker, await open_stores(broker)
    finally:
        await stop_broker(broker)


async def outbound_call(stores: Stores) -> Call:
    medium = CallMedium.model_validate(
        {"twilio": {"outgoing": {"to": "+15550001111", "from": "+15550002222"}}}
    )
    call = Call(
        call_id=new_call_id(),
        created=datetime.now(UTC),
        join_timeout=timedelta(seconds=30),
        medium=medium,
        direction="outbound",
    )
    await stores.calls.create(str(call.call_id), call)
    return call


def placer(broker: NatsBroker, stores: Stores, api_url: str) -> tuple[CallPlacer, RestClients]:
    box = SecretBox(SECRET_KEY)
    clients = RestClients(
        TelephonyConfigs(stores.telephony_configs), box.decrypt, TelephonyApiSettings(twilio_api_url=api_url)
    )
    urls = DialUrls(JoinTokenSigner(SECRET_KEY), PUBLIC_URL, "ws://127.0.0.1:9")
    return CallPlacer(
        stores, EventPublisher(broker), clients, urls, RetryPolicy(tries=2, backoff_s=0.01)
    ), clients


async def test_two_replicas_holding_the_same_request_dial_once(stores: tuple[NatsBroker, Stores]) -> None:
    broker, kv = stores
    account = new_account(Provider.TWILIO, script=CalleeScript.parse(["*=busy"]))
    box = SecretBox(SECRET_KEY)
    await (
        TelephonyConfigs(kv.telephony_configs)
        .store(Provider.TWILIO)
        .create("twilio", stored_config(account, Provider.TWILIO, box))
    )
    async with account.serve() as api_url:
        (first, first_clients), (second, second_clients) = (
            placer(broker, kv, api_url),
            placer(broker, kv, api_url),
        )
        call = await outbound_call(kv)
        request = DialCall(call_id=call.call_id, attempt=1)
        try:
            outcomes = await asyncio.gather(*(replica.place(request) for replica in (first, second) * 4))
        finally:
            await first_clients.aclose()
            await second_clients.aclose()
    assert sorted(outcomes) == sorted([PlaceOutcome.DIALED] + [PlaceOutcome.ALREADY_CLAIMED] * 7)
    assert len([request for request in account.requests if request.method == "POST"]) == 1
    record = (await kv.calls.get(str(call.call_id))).value
    assert record.dial_claimed_attempt == 1
    assert record.provider_details is not None
    assert record.provider_details.call_id in account.calls


async def test_an_account_that_refuses_the_credentials_ends_the_call_dial_failed(
    stores: tuple[NatsBroker, Stores],
) -> None:
    broker, kv = stores
    account = TwilioRestApi("AC" + "7" * 32, "the-token-twilio-takes")
    box = SecretBox(SECRET_KEY)
    imported = TwilioRestApi(account.account_sid, "another-token-entirely")  # not the account's token
    stored = stored_config(imported, Provider.TWILIO, box)
    await TelephonyConfigs(kv.telephony_configs).store(Provider.TWILIO).create("twilio", stored)
    async with account.serve() as api_url:
        replica, clients = placer(broker, kv, api_url)
        call = await outbound_call(kv)
        try:
            outcome = await replica.place(DialCall(call_id=call.call_id))
        finally:
            await clients.aclose()
    assert outcome is PlaceOutcome.FAILED
    record = (await kv.calls.get(str(call.call_id))).value
    assert record.end_reason is EndReason.DIAL_FAILED
    assert record.end_detail is not None
    assert "refused the imported credentials" in record.end_detail
    assert [step.status for step in record.dial_statuses] == ["dialing", "failed"]
    assert account.outbound.calls == {}


async def test_a_provider_failing_with_5xx_is_tried_again_then_the_call_ends_dial_failed(
    stores: tuple[NatsBroker, Stores],
) -> None:
    broker, kv = stores
    account = new_account(Provider.TWILIO)
    await (
        TelephonyConfigs(kv.telephony_configs)
        .store(Provider.TWILIO)
        .create("twilio", stored_config(account, Provider.TWILIO, SecretBox(SECRET_KEY)))
    )
    received: list[str] = []

    async def failing(request: Request) -> JSONResponse:
        received.append(request.url.path)
        body = {"code": 20500, "message": "Internal Server Error", "status": 503}
        return JSONResponse(body, status_code=503)

    app = Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Calls.json", failing, methods=["POST"])])
    async with serve_asgi(app, "127.0.0.1", 0) as api_url:
        replica, clients = placer(broker, kv, api_url)
        call = await outbound_call(kv)
        try:
            outcome = await replica.place(DialCall(call_id=call.call_id))
        finally:
            await clients.aclose()
    assert outcome is PlaceOutcome.FAILED
    assert len(received) == 2  # RetryPolicy(tries=2)
    record = (await kv.calls.get(str(call.call_id))).value
    assert record.end_reason is EndReason.DIAL_FAILED
    assert record.end_detail is not None
    assert "gave up after 2 tries" in record.end_detail
