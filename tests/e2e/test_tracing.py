"""One trace per call: the webhook's request span, the dialer's dial span and the media call span share a
trace id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import tone
from callbridge.devkit.simulators.rest import CalleeScript
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from tests.e2e.helpers import API_KEY, SECRET_KEY, get_call, twilio_for
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
