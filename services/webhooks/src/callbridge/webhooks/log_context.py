"""Tag the log lines of a request about one call with its id (``/api/calls/{callId}/…`` and the provider
routes that name a call), as media tags the lines of a call's connection (callbridge.common.logs)."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from callbridge.common.logs import call_context

_CALL_PATH = re.compile(
    r"^/api/calls/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:/|$)"
)


class CallLogContext:
    """A pure ASGI middleware: the route runs in this task, so the tag reaches every line it logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _CALL_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        with call_context(match.group(1).lower()):
            await self.app(scope, receive, send)
