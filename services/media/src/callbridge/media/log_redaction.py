"""Keeping credentials out of the ``websockets`` library's debug log.

At DEBUG, ``websockets`` logs every handshake: the request line (a join URL carries its token in the path)
and each header as ``"> %s: %s"`` / ``"< %s: %s"`` (the agent's ``Authorization``, a provider's signature).
This filter rewrites those arguments before any handler formats them: the join token becomes
``[redacted]``, and every header value but a few harmless protocol ones too.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
WEBSOCKETS_LOGGERS = ("websockets.client", "websockets.server")
_JOIN_TOKEN = re.compile(r"(/telephony/)[^/?#\s]+")
_HEADER_LINES = frozenset({"> %s: %s", "< %s: %s"})  # websockets' client.py and server.py
_HARMLESS_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "date",
        "server",
        "user-agent",
        "content-type",
        "content-length",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
    }
)


def redact_join_tokens(text: str) -> str:
    return _JOIN_TOKEN.sub(rf"\g<1>{REDACTED}", text)


class HandshakeRedactionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or not args:
            return True
        if record.msg in _HEADER_LINES and len(args) == 2:
            if str(args[0]).lower() not in _HARMLESS_HEADERS:
                record.args = (args[0], REDACTED)
            return True
        record.args = tuple(redact_join_tokens(arg) if isinstance(arg, str) else arg for arg in args)
        return True


def install_handshake_redaction() -> None:
    """Idempotent: one filter per logger, however many servers the process starts. A filter on a logger
    sees only that logger's own records, hence one on each."""
    for name in WEBSOCKETS_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(existing, HandshakeRedactionFilter) for existing in target.filters):
            target.addFilter(HandshakeRedactionFilter())
