"""Reading a provider's HTTP request into callbridge.telephony's ``ProviderRequest``: the raw body (Telnyx
signs the bytes), the decoded fields, and the URL as the provider requested it (Twilio and Plivo sign the
URL). The one place a provider webhook meets Starlette; sizes and time are bounded here."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

from callbridge.telephony.request import Fields, Headers, ProviderRequest
from callbridge.webhooks.errors import InvalidRequestError, RequestTooLargeError

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 500
BODY_READ_TIMEOUT_S = 10.0

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"


async def read_provider_request(
    request: Request, public_base_url: str, *, allow_json: bool = False, path_secret: str | None = None
) -> ProviderRequest:
    """Read and decode a provider's request; a clear 4xx for anything a provider would not send."""
    body = await _read_body(request)
    query = request.url.query
    url = public_base_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")
    form = Fields()
    document: dict[str, Any] | None = None
    if request.method == "POST" and body:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == FORM_CONTENT_TYPE:
            form = Fields(_parse_pairs(_text(body)))
        elif allow_json and content_type == JSON_CONTENT_TYPE:
            document = _json_object(body)
        else:
            expected = f"{FORM_CONTENT_TYPE} or {JSON_CONTENT_TYPE}" if allow_json else FORM_CONTENT_TYPE
            raise InvalidRequestError(
                f"expected a form-encoded provider webhook ({expected}), "
                f"got content-type {content_type or 'none'!r}"
            )
    fields = Fields(_parse_pairs(query)) if request.method == "GET" else form
    return ProviderRequest(
        method=request.method,
        url=url,
        headers=Headers(request.headers.items()),
        body=body,
        form=form,
        fields=fields,
        json=document,
        path_secret=path_secret,
    )


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise RequestTooLargeError(f"webhook body too large (limit {MAX_BODY_BYTES} bytes)")
    body = bytearray()
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT_S):
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise RequestTooLargeError(f"webhook body too large (limit {MAX_BODY_BYTES} bytes)")
    except TimeoutError:
        raise InvalidRequestError(f"webhook body not received within {BODY_READ_TIMEOUT_S:.0f} s") from None
    return bytes(body)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("webhook body is not UTF-8") from None


def _parse_pairs(encoded: str) -> list[tuple[str, str]]:
    try:
        return list(parse_qsl(encoded, keep_blank_values=True, max_num_fields=MAX_FIELDS))
    except ValueError:
        raise InvalidRequestError(f"webhook has more than {MAX_FIELDS} fields") from None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise InvalidRequestError("webhook body is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidRequestError("webhook body must be a JSON object")
    return document
