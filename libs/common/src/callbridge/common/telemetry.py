"""OpenTelemetry set-up: one tracer provider per service process, exporting over OTLP/HTTP when configured."""

from __future__ import annotations

import logging

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from callbridge.common.logs import configure_logging

logger = logging.getLogger(__name__)


def setup_tracing(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
    """A service's tracer provider; spans are exported over OTLP/HTTP only when ``otlp_endpoint`` is set.

    The provider is handed to what traces (FastAPI, the NATS middleware, the media session) rather than
    installed globally, so that two services embedded in one process (``callbridge up``) keep apart.
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if otlp_endpoint:
        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        logger.info("exporting traces to %s", endpoint)
    return provider


__all__ = ["configure_logging", "setup_tracing"]
