"""Keeping webhook secrets out of logs and traces: a provider that signs nothing (Exotel) may carry its secret
as a URL path segment (``/telephony_xml/{webhookSecret}``, ``/telephony/{provider}/status/{webhookSecret}``),
which access logs and the server span's ``http.target`` would otherwise record."""

from __future__ import annotations

import logging
import re
from typing import Any

from opentelemetry.trace import Span

REDACTED = "[redacted]"
_SECRET_SEGMENT = re.compile(r"(/telephony_xml/|/telephony/[^/?#\s\"]+/status/)[^/?#\s\"]+")
_SPAN_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full")


def redact_secret_paths(text: str) -> str:
    return _SECRET_SEGMENT.sub(rf"\g<1>{REDACTED}", text)


class SecretPathFilter(logging.Filter):
    """Redacts secret path segments in a log record's arguments (uvicorn's access log passes the path
    as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_secret_paths(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_filter(logger_name: str = "uvicorn.access") -> None:
    """Idempotent: one filter per logger, however many apps the process creates."""
    target = logging.getLogger(logger_name)
    if not any(isinstance(existing, SecretPathFilter) for existing in target.filters):
        target.addFilter(SecretPathFilter())


def redact_span(span: Span, scope: dict[str, Any]) -> None:
    """FastAPI instrumentation's server request hook: rewrite the URL attributes of secret paths."""
    path = scope.get("path")
    if not span.is_recording() or not isinstance(path, str) or not _SECRET_SEGMENT.search(path):
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _SPAN_URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            span.set_attribute(name, redact_secret_paths(value))
