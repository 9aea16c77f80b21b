"""The edge's limits, as a client meets them: body size (declared or streamed), JSON nesting before any
parse, and records that would not fit in one NATS message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import nats.errors
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from callbridge.common import subjects
from tests.webhooks.helpers import API_KEY, Api

NATS_MAX_PAYLOAD = 1024 * 1024  # nats-server's default, which the test server keeps
MAX_REQUEST_BYTES = 1024 * 1024  # the service's default


def _nested(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


async def test_a_body_declared_too_large_is_refused_before_it_is_sent(api: Api) -> None:
    address = urlsplit(api.base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(
            b"POST /api/calls HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + f"X-API-Key: {API_KEY}\r\nContent-Length: {20 * 1024 * 1024}\r\n\r\n".encode()
            + b'{"systemPrompt": "'  # and nothing more: the answer must not wait for the rest
        )
        await writer.drain()
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body = json.loads(await reader.readexactly(length))
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")
    assert body["detail"] == f"request body too large: at most {MAX_REQUEST_BYTES} bytes are accepted"


async def test_a_streamed_body_is_counted(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"systemPrompt": "'
        for _ in range(40):
            yield b"x" * 64 * 1024
        yield b'"}'

    response = await api.client.post(
        "/api/calls", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert str(MAX_REQUEST_BYTES) in response.json()["detail"]
    assert (await api.client.get("/api/calls")).json()["total"] == 0


async def test_a_call_that_would_not_fit_one_nats_message_is_refused_naming_the_limit(
    api: Api, nats_client: Client
) -> None:
    body = {"systemPrompt": "x" * 1_046_000}  # under the request limit, over NATS's once stored
    response = await api.client.post("/api/calls", json=body)
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert f"max_payload of {NATS_MAX_PAYLOAD} bytes" in detail
    assert "created event" in detail
    assert (await api.client.get("/api/calls")).json()["total"] == 0
    subscription = await nats_client.jetstream().subscribe(
        subjects.call_event("*", "created"), deliver_policy=DeliverPolicy.ALL, ordered_consumer=True
    )
    try:
        await subscription.next_msg(timeout=0.5)
        raise AssertionError("a created event was published for a call that was refused")
    except nats.errors.TimeoutError:
        pass
    finally:
        await subscription.unsubscribe()


async def test_an_agent_that_would_not_fit_one_nats_message_is_refused_naming_the_limit(api: Api) -> None:
    response = await api.client.post(
        "/api/agents", json={"name": "big", "callTemplate": {"systemPrompt": "x" * 1_046_000}}
    )
    assert response.status_code == 413, response.text
    assert f"max_payload of {NATS_MAX_PAYLOAD} bytes" in response.json()["detail"]
    assert (await api.client.get("/api/agents")).json()["total"] == 0


async def test_json_nested_30000_deep_on_the_unauthenticated_telnyx_callback_is_a_400(api: Api) -> None:
    deep = b'{"a":' * 30_000 + b"1" + b"}" * 30_000
    response = await api.client.post(
        "/api/telephony/telnyx/status", content=deep, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "JSON nested 30000 levels deep; at most 64 are allowed"


async def test_an_initial_state_nested_300_deep_is_a_400_before_any_parse(api: Api) -> None:
    response = await api.client.post("/api/calls", json={"initialState": _nested(300)})
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "JSON nested 301 levels deep; at most 64 are allowed"
    assert (await api.client.get("/api/calls")).status_code == 200


async def test_lone_surrogates_and_nan_are_refused_at_the_edge(api: Api) -> None:
    for raw, fragment in (
        (b'{"systemPrompt": "\\ud800"}', "lone UTF-16 surrogate (\\ud800)"),
        (b'{"systemPrompt": "\\\\ud800 is how you write it"}', None),
        (b'{"systemPrompt": "\\ud83d\\ude00"}', None),  # a pair: one emoji
        (b'{"temperature": NaN}', "NaN or Infinity"),
    ):
        response = await api.client.post(
            "/api/calls", content=raw, headers={"content-type": "application/json"}
        )
        if fragment is None:
            assert response.status_code == 201, response.text
        else:
            assert response.status_code == 400, response.text
            assert fragment in response.json()["detail"]
