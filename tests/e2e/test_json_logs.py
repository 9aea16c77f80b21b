"""Structured logs end to end: every line the services log during a real call is one JSON object, and every
line about the call (media's, the agent connection's, the API's) carries its ``call_id``; no join token."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from callbridge.common.logs import log_handler
from callbridge.devkit.signals import tone
from callbridge.devkit.stack import RunningStack
from tests.e2e.helpers import twilio_for

RATE_HZ = 8000


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = log_handler("json", service="callbridge-test", instance="e2e", stream=stream)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in ("callbridge", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def test_every_line_about_a_call_names_it(stack: RunningStack, json_lines: io.StringIO) -> None:
    simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {"sampleRate": 16000}}})
    call = await simulator.place_call(tone(1000.0, 0.5, RATE_HZ, -10.0), dtmf=[(0.2, "5")], tail_s=0.2)
    call_id = call.answer.parameters["callId"]
    join_token = call.answer.stream_url.rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        assert (await api.get(f"/api/calls/{call_id}")).status_code == 200

    lines = [json.loads(text) for text in json_lines.getvalue().splitlines()]  # every line is JSON
    assert lines
    # httpx is this test's own client, not a service
    about_the_call = [line for line in lines if call_id in str(line["message"]) and line["logger"] != "httpx"]
    assert len(about_the_call) >= 3, [line["message"] for line in lines]
    assert [(line["logger"], line["message"]) for line in about_the_call if line["call_id"] != call_id] == []
    loggers = {line["logger"] for line in lines if line["call_id"] == call_id}
    assert any(name.startswith("callbridge.media") for name in loggers), loggers
    assert "uvicorn.access" in loggers  # GET /api/calls/{callId}: the API's line about the call
    assert join_token not in json_lines.getvalue()
