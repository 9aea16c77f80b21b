"""OpenTelemetry set-up: one tracer provider per service process, exporting over OTLP/HTTP when configured."""

from __future__ import annotations

import logging
import os

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from callbridge.common.logs import configure_logging

logger = logging.getLogger(__name__)


def setup_tracing(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
    """A service's tracer provider; spans are exported over OTLP/HTTP when an endpoint is configured.

    The endpoint is ``otlp_endpoint`` (``CALLBRIDGE_OTEL_EXPORTER_OTLP_ENDPOINT``) or, without it, the
    standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` (with
    ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_TIMEOUT`` … as the SDK reads them).
    ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` export nothing; ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` name the process; ``OTEL_TRACES_SAMPLER`` samples.

    The provider is handed to what traces (FastAPI, the NATS middleware, the media session) rather than
    installed globally, so that two services embedded in one process (``callbridge up``) keep apart.
    """
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true"
    exporter_off = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none"
    if disabled or exporter_off:
        return provider
    if otlp_endpoint:
        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        logger.info("exporting traces to %s", endpoint)
    elif os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # the SDK reads OTEL_* itself
        logger.info("exporting traces as OTEL_EXPORTER_OTLP_* say")
    return provider


__all__ = ["configure_logging", "setup_tracing"]
