"""Exotel's webhook secret, when it is a path segment, never reaches the access log or a span."""

from __future__ import annotations

import logging

from opentelemetry.sdk.trace import TracerProvider

from callbridge.webhooks.redaction import SecretPathFilter, redact_secret_paths, redact_span

SECRET = "exotel-webhook-secret-0123456789"


def test_secret_path_segments_are_redacted_and_other_paths_kept() -> None:
    assert redact_secret_paths(f"/api/agents/a1/telephony_xml/{SECRET}?CallSid=1") == (
        "/api/agents/a1/telephony_xml/[redacted]?CallSid=1"
    )
    assert (
        redact_secret_paths(f"/api/telephony/exotel/status/{SECRET}")
        == "/api/telephony/exotel/status/[redacted]"
    )
    assert redact_secret_paths("/api/agents/a1/telephony_xml") == "/api/agents/a1/telephony_xml"


def test_access_log_records_lose_the_secret() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/api/agents/a1/telephony_xml/{SECRET}", "1.1", 200), None,
    )  # fmt: skip
    assert SecretPathFilter().filter(record)
    assert SECRET not in record.getMessage()
    assert "/telephony_xml/[redacted]" in record.getMessage()


def test_server_span_url_attributes_lose_the_secret() -> None:
    tracer = TracerProvider().get_tracer(__name__)
    path = f"/api/telephony/exotel/status/{SECRET}"
    with tracer.start_as_current_span("request", attributes={"http.target": path, "url.path": path}) as span:
        redact_span(span, {"path": path})
        attributes = dict(span.attributes or {})  # type: ignore[attr-defined]  # an SDK span has attributes
    assert attributes == {
        "http.target": "/api/telephony/exotel/status/[redacted]",
        "url.path": "/api/telephony/exotel/status/[redacted]",
    }
