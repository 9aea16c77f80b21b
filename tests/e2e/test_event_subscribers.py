"""The events as an external subscriber sees them: the AsyncAPI document matches the code and is served, and
the example subscriber (examples/follow_calls.py, run as its own process) follows a real call."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx

from callbridge.common.asyncapi import events_specification, render
from callbridge.common.events import EVENT_TYPES, CallEnded
from callbridge.devkit.signals import tone
from callbridge.devkit.stack import RunningStack
from tests.e2e.helpers import events_of, twilio_for

ROOT = Path(__file__).resolve().parents[2]


def test_the_published_asyncapi_document_is_the_generated_one() -> None:
    committed = (ROOT / "docs" / "asyncapi.json").read_text()
    assert committed == render(), "regenerate: python -m callbridge.common.asyncapi > docs/asyncapi.json"


def test_every_event_type_is_a_channel_with_its_schema() -> None:
    document = events_specification()
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    assert {channel["address"] for channel in channels.values()} == {
        f"callbridge.calls.{{callId}}.{event.EVENT}" for event in EVENT_TYPES
    } | {"callbridge.batches.{batchId}.progress"}
    schemas = document["components"]["schemas"]
    for event in EVENT_TYPES:
        assert event.__name__ in schemas
    ended = schemas["CallEnded"]["properties"]
    assert {"eventId", "occurredAt", "callId", "endReason"} <= ended.keys()


async def test_the_document_is_served_and_the_example_subscriber_follows_a_call(
    stack: RunningStack, nats_url: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.webhooks_url) as client:
        served = await client.get("/docs/asyncapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(render())

    simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {"sampleRate": 16000}}})
    call = await simulator.place_call(tone(1000.0, 0.5, 8000, -10.0), dtmf=[(0.2, "7")], tail_s=0.2)
    call_id = call.answer.parameters["callId"]
    published = await events_of(nats_url, call_id, until=CallEnded)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "follow_calls.py"),
        "--nats-url",
        nats_url,
        "--call",
        call_id,
        "--replay",
        "--until-ended",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert [line.split()[2] for line in lines] == [event.EVENT for event in published]
    assert all(line.split()[1] == call_id for line in lines)
    assert any("digit='7'" in line for line in lines)
    assert "endReason='hangup'" in lines[-1]
