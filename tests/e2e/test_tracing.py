"""One trace per call: the webhook's request span, the dialer's dial span and the media call span share a
trace id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from callbridge.common.events import CallJoined
from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import tone
from callbridge.devkit.simulators.rest import CalleeScript
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from tests.e2e.helpers import API_KEY, SECRET_KEY, events_of, get_call, twilio_for
from tests.e2e.outbound import place_call, stack_dialing


@pytest.fixture
async def traced_stack(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[RunningStack, InMemorySpanExporter, asyncio.Event]]:
    exporter = InMemorySpanExporter()
    media_call_ended = asyncio.Event()

    def setup_tracing(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.add_span_processor(_Signal("media.call", media_call_ended))
        return provider

    monkeypatch.setattr("callbridge.webhooks.main.setup_tracing", setup_tracing)
    monkeypatch.setattr("callbridge.media.main.setup_tracing", setup_tracing)
    async with run_stack(StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)) as stack:
        yield stack, exporter, media_call_ended


class _Signal(SpanProcessor):
    """Sets ``event`` when a span named ``name`` ends (spans end on the loop's thread)."""

    def __init__(self, name: str, event: asyncio.Event) -> None:
        self._name = name
        self._event = event

    def on_end(self, span: ReadableSpan) -> None:
        if span.name == self._name:
            self._event.set()


async def test_the_webhook_and_the_media_call_are_one_trace(
    traced_stack: tuple[RunningStack, InMemorySpanExporter, asyncio.Event],
) -> None:
    stack, exporter, media_call_ended = traced_stack
    simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {}}})
    call = await simulator.place_call(tone(1000.0, 0.3, 8000, -10.0), tail_s=0.0)
    call_id = call.answer.parameters["callId"]
    record = await get_call(stack, call_id)
    trace_id = record["traceContext"]["traceparent"].split("-")[1]
    await asyncio.wait_for(media_call_ended.wait(), timeout=10)  # media finishes the call after the caller
    spans = exporter.get_finished_spans()
    (media_span,) = [s for s in spans if s.name == "media.call"]
    assert media_span.attributes is not None
    assert media_span.attributes["callbridge.call_id"] == call_id
    assert media_span.context is not None
    assert format(media_span.context.trace_id, "032x") == trace_id
    webhook_spans = [s for s in spans if s.name.startswith("POST /api/agents/") and s.context is not None]
    assert any(format(s.context.trace_id, "032x") == trace_id for s in webhook_spans if s.context)
    # The provider's call SID and stream SID are attributes of the media call; the agent connection is a
    # span of the same trace.
    assert media_span.attributes["callbridge.provider_call_id"] == call.recording.call_sid
    assert media_span.attributes["callbridge.stream_sid"] == call.recording.stream_sid
    (agent_span,) = [s for s in spans if s.name == "agent.connect"]
    assert agent_span.context is not None
    assert format(agent_span.context.trace_id, "032x") == trace_id
    assert agent_span.parent is not None
    assert agent_span.parent.span_id == media_span.context.span_id


async def test_an_outbound_call_is_one_trace_from_the_api_through_the_dialer_to_the_provider(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /api/calls → the DialCall message (context in its NATS headers) → the dialer → the provider's
    REST API (a client span with the provider's call id) → the media call, all one trace."""
    exporter = InMemorySpanExporter()
    media_call_ended = asyncio.Event()

    def setup_tracing(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.add_span_processor(_Signal("media.call", media_call_ended))
        return provider

    for service in ("webhooks", "media", "dialer"):
        monkeypatch.setattr(f"callbridge.{service}.main.setup_tracing", setup_tracing)
    script = CalleeScript.parse(["*=answers_and_speaks(ring_s=0.1, speech_s=0.5, hold_s=1.0)"])
    account = new_account(Provider.TWILIO, script=script, allow_insecure_ws=True)
    body = {
        "medium": {"twilio": {"outgoing": {"to": "+15550001111", "from": "+15550002222"}}},
        "agentBackend": {"echo": {}},
    }
    async with stack_dialing(nats_url, Provider.TWILIO, account) as stack:
        response = await place_call(stack, body)
        assert response.status_code == 201, response.text
        call_id = response.json()["callId"]
        await events_of(nats_url, call_id, timeout_s=30)
        await asyncio.wait_for(media_call_ended.wait(), timeout=10)
    spans = exporter.get_finished_spans()
    (request,) = [s for s in spans if s.name == "POST /api/calls" and s.kind is SpanKind.SERVER]
    assert request.context is not None
    trace_id = request.context.trace_id
    (dial,) = [s for s in spans if s.name == "twilio dial"]
    (media,) = [s for s in spans if s.name == "media.call"]
    assert dial.context is not None
    assert media.context is not None
    assert dial.context.trace_id == trace_id
    assert media.context.trace_id == trace_id
    attributes = dict(dial.attributes or {})
    assert attributes["callbridge.call_id"] == call_id
    (placed,) = account.outbound.calls.values()
    assert attributes["callbridge.provider_call_id"] == placed.call_id


async def test_the_dial_of_an_outbound_call_continues_its_trace(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = InMemorySpanExporter()
    dialed = asyncio.Event()

    def setup_tracing(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.add_span_processor(_Signal("dialer.dial", dialed))
        return provider

    for service in ("webhooks", "media", "dialer"):
        monkeypatch.setattr(f"callbridge.{service}.main.setup_tracing", setup_tracing)
    account = new_account(Provider.TWILIO, script=CalleeScript.parse(["*=busy"]))
    async with stack_dialing(nats_url, Provider.TWILIO, account) as stack:
        outgoing = {"to": "+15550001111", "from": "+15550002222"}
        response = await place_call(stack, {"medium": {"twilio": {"outgoing": outgoing}}})
        call_id = response.json()["callId"]
        await asyncio.wait_for(dialed.wait(), timeout=10)
        record = await get_call(stack, call_id)
    trace_id = record["traceContext"]["traceparent"].split("-")[1]
    (dial_span,) = [span for span in exporter.get_finished_spans() if span.name == "dialer.dial"]
    assert dial_span.context is not None
    assert format(dial_span.context.trace_id, "032x") == trace_id
    assert dial_span.attributes is not None
    assert dial_span.attributes["callbridge.call_id"] == call_id
    assert dial_span.attributes["callbridge.dial_outcome"] == "dialed"


async def test_a_transfer_is_carried_out_in_the_calls_trace(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /api/calls/{id}/transfer → the ColdTransfer command (context in its NATS headers) → the transfer
    service → the provider's REST API: the provider request is a span of the call's one trace, with the
    call id and the provider's call id as attributes."""
    exporter = InMemorySpanExporter()

    def setup_tracing(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider

    for service in ("webhooks", "media", "dialer", "transfer"):
        monkeypatch.setattr(f"callbridge.{service}.main.setup_tracing", setup_tracing)
    script = CalleeScript.parse(["*=answers_and_speaks(ring_s=0.1, speech_s=0.5, hold_s=30)"])
    account = new_account(Provider.TWILIO, script=script, allow_insecure_ws=True)
    body = {
        "medium": {"twilio": {"outgoing": {"to": "+15550001111", "from": "+15550002222"}}},
        "agentBackend": {"echo": {}},
    }
    async with stack_dialing(nats_url, Provider.TWILIO, account) as stack:
        response = await place_call(stack, body)
        assert response.status_code == 201, response.text
        call_id = response.json()["callId"]
        await events_of(nats_url, call_id, until=CallJoined, timeout_s=30)
        async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": API_KEY}) as api:
            transfer = await api.post(f"/api/calls/{call_id}/transfer", json={"target": "+15557654321"})
        assert transfer.status_code == 202, transfer.text
        await events_of(nats_url, call_id, timeout_s=30)  # until it has ended (transferred)
        record = await get_call(stack, call_id)
    trace_id = int(record["traceContext"]["traceparent"].split("-")[1], 16)
    spans = exporter.get_finished_spans()
    (transferred,) = [s for s in spans if s.name == "twilio transfer"]
    assert transferred.context is not None
    assert transferred.context.trace_id == trace_id
    attributes = dict(transferred.attributes or {})
    assert attributes["callbridge.call_id"] == call_id
    (placed,) = account.outbound.calls.values()
    assert attributes["callbridge.provider_call_id"] == placed.call_id
