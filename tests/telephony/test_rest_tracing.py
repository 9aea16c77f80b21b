"""Every provider REST request is a client span in the current trace, saying what was asked of which
provider about which call, and how it failed."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from callbridge.common.models.medium import Provider
from callbridge.telephony import CallNotFound, HangUpResult
from callbridge.telephony.rest.tracing import TracedRestClient
from tests.telephony.helpers import CALL_IDS, served_api


async def test_requests_are_spans_under_the_current_one() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    call_id = CALL_IDS[Provider.TELNYX]
    async with served_api(Provider.TELNYX) as telnyx:
        telnyx.api.add_call(call_id)
        client = TracedRestClient(telnyx.client(), tracer)
        assert client.can_send_dtmf
        async with client:
            with tracer.start_as_current_span("dialer handles the call") as parent:
                await client.send_dtmf(call_id, "12#")
                assert await client.hang_up(call_id) is HangUpResult.HUNG_UP
                with pytest.raises(CallNotFound):
                    await client.fetch_call("v3:unknown-call")
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {
        "dialer handles the call",
        "telnyx send_dtmf",
        "telnyx hang_up",
        "telnyx fetch_call",
    }
    trace_id = parent.get_span_context().trace_id
    for name in ("telnyx send_dtmf", "telnyx hang_up", "telnyx fetch_call"):
        span = spans[name]
        assert span.kind is SpanKind.CLIENT
        assert span.context.trace_id == trace_id
        assert span.parent is not None
        assert span.parent.span_id == parent.get_span_context().span_id
        assert dict(span.attributes or {})["callbridge.provider"] == "telnyx"
    assert dict(spans["telnyx hang_up"].attributes or {})["callbridge.provider_call_id"] == call_id
    failed = spans["telnyx fetch_call"]
    assert failed.status.status_code is StatusCode.ERROR
    attributes = dict(failed.attributes or {})
    assert attributes["error.type"] == "CallNotFound"
    assert attributes["http.response.status_code"] == 404
    assert spans["telnyx hang_up"].status.status_code is StatusCode.UNSET
