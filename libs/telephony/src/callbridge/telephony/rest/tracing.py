"""A span around every provider REST request: the call's trace shows each dial, hang-up, fetch, transfer
and key press, how long the provider took, and how it failed.

``TracedRestClient(client, tracer)`` is a ``ProviderRestClient`` that delegates to ``client``; each request is
a client span ``<provider> <operation>`` (``twilio dial``) with ``callbridge.provider``,
``callbridge.call_id`` (a dial's), ``callbridge.provider_call_id`` (the provider's, once known) and, on
failure, the error's kind, the provider's HTTP status and error code (never a credential: errors carry
none). The span is a child of whatever span is current: the dialer's handling of a dial message, which
continues the trace of the request that created the call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from callbridge.common.logs import current_call_id
from callbridge.telephony.errors import ProviderApiError
from callbridge.telephony.rest.client import (
    DialRequest,
    DialResult,
    HangUpResult,
    JoinRequest,
    ProviderCallState,
    ProviderRestClient,
    TransferRequest,
)

T = TypeVar("T")


class TracedRestClient(ProviderRestClient):
    def __init__(self, client: ProviderRestClient, tracer: Tracer) -> None:
        self._client = client
        self._tracer = tracer
        self.provider = client.provider  # type: ignore[misc]  # the wrapped client's, per instance
        self.can_transfer = client.can_transfer  # type: ignore[misc]
        self.can_send_dtmf = client.can_send_dtmf  # type: ignore[misc]
        self.can_join = client.can_join  # type: ignore[misc]

    @property
    def wrapped(self) -> ProviderRestClient:
        return self._client

    async def _traced(
        self,
        operation: str,
        request: Callable[[], Awaitable[T]],
        *,
        provider_call_id: str | None = None,
        call_id: str | None = None,
        after: Callable[[Span, T], None] | None = None,
    ) -> T:
        name = f"{self.provider.value} {operation}"
        with self._tracer.start_as_current_span(name, kind=SpanKind.CLIENT, record_exception=False) as span:
            span.set_attribute("callbridge.provider", self.provider.value)
            span.set_attribute("callbridge.provider_operation", operation)
            if provider_call_id is not None:
                span.set_attribute("callbridge.provider_call_id", provider_call_id)
            call_id = call_id or current_call_id()  # the call whose work this is (logs.bind_call)
            if call_id is not None:
                span.set_attribute("callbridge.call_id", call_id)
            try:
                result = await request()
            except ProviderApiError as exc:
                span.set_attribute("error.type", type(exc).__name__)
                if exc.status_code is not None:
                    span.set_attribute("http.response.status_code", exc.status_code)
                if exc.code is not None:
                    span.set_attribute("callbridge.provider_error_code", exc.code)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            except Exception as exc:
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            if after is not None:
                after(span, result)
            return result

    async def dial(self, request: DialRequest) -> DialResult:
        def answered(span: Span, result: DialResult) -> None:
            if result.provider_call_id:
                span.set_attribute("callbridge.provider_call_id", result.provider_call_id)
            if result.provider_request_id:
                span.set_attribute("callbridge.provider_request_id", result.provider_request_id)

        return await self._traced(
            "dial", lambda: self._client.dial(request), call_id=str(request.call_id), after=answered
        )

    async def hang_up(self, provider_call_id: str) -> HangUpResult:
        return await self._traced(
            "hang_up", lambda: self._client.hang_up(provider_call_id), provider_call_id=provider_call_id
        )

    async def fetch_call(self, provider_call_id: str) -> ProviderCallState:
        return await self._traced(
            "fetch_call", lambda: self._client.fetch_call(provider_call_id), provider_call_id=provider_call_id
        )

    async def transfer(self, provider_call_id: str, request: TransferRequest) -> None:
        await self._traced(
            "transfer",
            lambda: self._client.transfer(provider_call_id, request),
            provider_call_id=provider_call_id,
        )

    async def join(self, request: JoinRequest) -> None:
        await self._traced("join", lambda: self._client.join(request), provider_call_id=request.first_call_id)

    async def send_dtmf(self, provider_call_id: str, digits: str, *, tone_ms: int | None = None) -> None:
        await self._traced(
            "send_dtmf",
            lambda: self._client.send_dtmf(provider_call_id, digits, tone_ms=tone_ms),
            provider_call_id=provider_call_id,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
