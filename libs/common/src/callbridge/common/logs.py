"""Log lines as a log pipeline reads them: one JSON object per line, with the call id on every line about a
call.

``configure_logging(level, fmt)`` gives the process one handler on stderr. ``json`` (the services' default)
writes each record as an object with ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``service``, ``instance`` and, for a line about a call, ``call_id``; an exception's traceback is in
``exc_info``. ``text`` writes the same fields as a line for a person (``callbridge up`` uses it).

The call id comes from the record itself (``extra={"call_id": …}``, as media's per-call log gives it) or
from the context: ``bind_call(call_id)`` in the task that serves a call (media's WebSocket handler, the
dialer's dial, a webhook's call route) tags every line logged in that task and in every task it starts, a
library's lines included (asyncio copies the context into each new task).

Secrets are kept out upstream: the loggers that could see one carry filters that rewrite the record before
any handler formats it (media's log_redaction.py, webhooks' redaction.py); the tests grep every line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Literal
from uuid import UUID

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["json", "text"]

_CALL_ID: ContextVar[str | None] = ContextVar("callbridge_call_id", default=None)


def bind_call(call_id: UUID | str) -> None:
    """Tag this task's log lines (and its future child tasks') with ``call_id``."""
    _CALL_ID.set(str(call_id))


@contextlib.contextmanager
def call_context(call_id: UUID | str) -> Iterator[None]:
    """Tag the lines logged inside the block with ``call_id``; the previous tag afterwards."""
    token = _CALL_ID.set(str(call_id))
    try:
        yield
    finally:
        _CALL_ID.reset(token)


def current_call_id() -> str | None:
    return _CALL_ID.get()


class ContextFilter(logging.Filter):
    """Adds ``call_id`` (from the context, unless the record has one), ``service`` and ``instance``."""

    def __init__(self, service: str, instance: str) -> None:
        super().__init__()
        self._service = service
        self._instance = instance

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "call_id", None) is None:
            record.call_id = _CALL_ID.get()
        record.service = self._service
        record.instance = self._instance
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        call_id = getattr(record, "call_id", None)
        return f"{line} [call {call_id}]" if call_id and str(call_id) not in record.getMessage() else line


def _json_formatter() -> logging.Formatter:
    formatter = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(call_id)s %(service)s %(instance)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        timestamp=False,
        json_ensure_ascii=False,
    )
    formatter.converter = _utc
    formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
    formatter.default_msec_format = "%s.%03dZ"
    return formatter


def _utc(seconds: float | None) -> time.struct_time:
    return time.gmtime(seconds)


def log_handler(fmt: LogFormat, *, service: str, instance: str, stream: Any = None) -> logging.Handler:
    """A handler writing ``fmt`` lines to ``stream`` (stderr), with the context filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter(service, instance))
    if fmt == "json":
        handler.setFormatter(_json_formatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    return handler


def configure_logging(
    level: str, fmt: LogFormat = "json", *, service: str = "callbridge", instance: str = ""
) -> None:
    """The process's logging: ``level`` and ``fmt`` on stderr, replacing any handler set before."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(log_handler(fmt, service=service, instance=instance))
    root.setLevel(level.upper())
