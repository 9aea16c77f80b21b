"""Trace export follows the standard OTEL_* environment variables, or callbridge's own setting."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider

from callbridge.common.telemetry import setup_tracing

OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def exporters(provider: TracerProvider) -> list[OTLPSpanExporter]:
    processors = provider._active_span_processor._span_processors  # no public accessor
    found = [getattr(processor, "span_exporter", None) for processor in processors]
    return [exporter for exporter in found if isinstance(exporter, OTLPSpanExporter)]


def test_nothing_is_exported_without_an_endpoint() -> None:
    provider = setup_tracing("callbridge-test", None)
    assert exporters(provider) == []
    assert provider.resource.attributes["service.name"] == "callbridge-test"


def test_the_standard_endpoint_variable_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "media-eu-1")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")
    provider = setup_tracing("callbridge-media", None)
    (exporter,) = exporters(provider)
    assert exporter._endpoint == "http://collector:4318/v1/traces"
    assert provider.resource.attributes["service.name"] == "media-eu-1"
    assert provider.resource.attributes["deployment.environment"] == "prod"


def test_callbridges_own_setting_wins_and_the_sdk_can_be_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    (exporter,) = exporters(setup_tracing("s", "http://jaeger:4318/"))
    assert exporter._endpoint == "http://jaeger:4318/v1/traces"
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert exporters(setup_tracing("s", "http://jaeger:4318")) == []
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert exporters(setup_tracing("s", None)) == []
