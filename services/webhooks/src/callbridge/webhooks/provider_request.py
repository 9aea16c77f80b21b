"""A provider's HTTP request as verification and parsing need it: the raw body (Telnyx signs the bytes),
the decoded fields, and the URL as the provider requested it (Twilio and Plivo sign the URL)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import FormData, Headers, UploadFile

from callbridge.webhooks.errors import InvalidRequestError, RequestTooLargeError

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 500
BODY_READ_TIMEOUT_S = 10.0

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    method: str
    url: str
    """Public base URL + path + query: what the provider was configured with and signed."""
    headers: Headers
    body: bytes
    form: FormData
    """The form-encoded POST parameters (empty for GET): what Twilio and Plivo sign beside the URL."""
    fields: FormData
    """What the request says: the POST form, or the query parameters of a GET."""
    json: dict[str, Any] | None = None
    """A JSON body (Telnyx Call Control webhooks)."""
    path_secret: str | None = None
    """A secret taken from the URL path (Exotel's ``/telephony_xml/{webhookSecret}``)."""

    def field(self, *names: str) -> str | None:
        """The first of ``names`` that the request carries with a non-empty value."""
        for name in names:
            value = self.fields.get(name)
            if isinstance(value, str) and value:
                return value
        return None

    def flat_fields(self) -> dict[str, str]:
        """The fields as a plain mapping (the last value of a repeated field wins)."""
        return {key: value for key, value in self.fields.multi_items() if isinstance(value, str)}


async def read_provider_request(
    request: Request, public_base_url: str, *, allow_json: bool = False, path_secret: str | None = None
) -> ProviderRequest:
    """Read and decode a provider's request; a clear 4xx for anything a provider would not send."""
    body = await _read_body(request)
    query = request.url.query
    url = public_base_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")
    form = FormData()
    document: dict[str, Any] | None = None
    if request.method == "POST" and body:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == FORM_CONTENT_TYPE:
            form = FormData(_parse_pairs(_text(body)))
        elif allow_json and content_type == JSON_CONTENT_TYPE:
            document = _json_object(body)
        else:
            expected = f"{FORM_CONTENT_TYPE} or {JSON_CONTENT_TYPE}" if allow_json else FORM_CONTENT_TYPE
            raise InvalidRequestError(
                f"expected a form-encoded provider webhook ({expected}), "
                f"got content-type {content_type or 'none'!r}"
            )
    fields = FormData(_parse_pairs(query)) if request.method == "GET" else form
    return ProviderRequest(
        method=request.method,
        url=url,
        headers=request.headers,
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


def _parse_pairs(encoded: str) -> list[tuple[str, str | UploadFile]]:
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
