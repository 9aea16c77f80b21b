"""The edge every request passes before any route: its body is bounded in size, in the time it takes to
arrive, and, for anything that may be parsed as JSON, in nesting depth, before FastAPI or a provider parser
sees it.

A body over the limit is refused with 413: at once when its Content-Length says so, otherwise as soon as
the bytes received pass the limit (chunked bodies are counted). The body is then handed to the app whole.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callbridge.common.json_guard import JsonBodyError, check_json_body
from callbridge.webhooks.redaction import redact_secret_paths

logger = logging.getLogger(__name__)

MAX_BODY_JSON_DEPTH = 64
"""Above the deepest body a route accepts: a free-form field's 32 levels inside the models around it
(``callTemplate.selectedTools[].parameterOverrides`` is 4 more)."""
BODY_READ_TIMEOUT_S = 30.0

# Bodies of these types are parsed as fields, never as JSON.
_NOT_JSON_TYPES = ("application/x-www-form-urlencoded", "multipart/")


class _Refused(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class _Disconnected(Exception):
    """The client went away before its body arrived: there is nobody to answer."""


class RequestLimits:
    """ASGI middleware: refuse oversized, slow or too deeply nested bodies before the app runs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_json_depth: int = MAX_BODY_JSON_DEPTH,
        read_timeout_s: float = BODY_READ_TIMEOUT_S,
        large_body_routes: Sequence[tuple[str, re.Pattern[str]]] = (),
        max_large_body_bytes: int = 0,
    ) -> None:
        """``large_body_routes`` (method, path pattern) accept up to ``max_large_body_bytes`` instead."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.large_body_routes = tuple(large_body_routes)
        self.max_large_body_bytes = max_large_body_bytes
        self.max_json_depth = max_json_depth
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self._limit_of(scope)
        try:
            body = await self._read_body(headers, receive, limit)
            if body and not headers.get("content-type", "").lower().startswith(_NOT_JSON_TYPES):
                check_json_body(body, self.max_json_depth)
        except _Disconnected:
            return
        except _Refused as refused:
            await _refuse(scope, receive, send, refused.status_code, refused.detail)
            return
        except JsonBodyError as exc:
            await _refuse(scope, receive, send, 400, str(exc))
            return
        await self.app(scope, _replay(body, receive), send)

    def _limit_of(self, scope: Scope) -> int:
        method, path = scope.get("method", ""), str(scope.get("path", ""))
        for route_method, pattern in self.large_body_routes:
            if method == route_method and pattern.fullmatch(path):
                return max(self.max_body_bytes, self.max_large_body_bytes)
        return self.max_body_bytes

    async def _read_body(self, headers: Headers, receive: Receive, limit: int) -> bytes:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Refused(413, self._too_large(limit))
        body = bytearray()
        try:
            async with asyncio.timeout(self.read_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _Disconnected
                    body += message.get("body", b"")
                    if len(body) > limit:
                        raise _Refused(413, self._too_large(limit))
                    if not message.get("more_body", False):
                        return bytes(body)
        except TimeoutError:
            raise _Refused(408, f"request body not received within {self.read_timeout_s:.0f} s") from None

    def _too_large(self, limit: int) -> str:
        return f"request body too large: at most {limit} bytes are accepted"


def _replay(body: bytes, receive: Receive) -> Receive:
    """The app's receive: the whole body at once, then whatever the server says next (a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(scope: Scope, receive: Receive, send: Send, status_code: int, detail: str) -> None:
    """Answer without reading the rest of the body. No ``Connection: close``: the server then discards the
    unread rest as it arrives and the client, still sending, reads this answer; closing instead resets
    the connection under a client that is still writing, which then sees no answer at all."""
    logger.info("refused %s %s: %s", scope.get("method"), redact_secret_paths(str(scope.get("path"))), detail)
    await JSONResponse({"detail": detail}, status_code=status_code)(scope, receive, send)
