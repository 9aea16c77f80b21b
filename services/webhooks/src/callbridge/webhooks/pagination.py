"""Cursor pagination as Ultravox does it: ``results`` plus absolute ``next``/``previous`` URLs."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi import Request

from callbridge.webhooks.errors import InvalidRequestError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    results: list[T]
    next: str | None
    previous: str | None


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequestError("invalid cursor") from None
    prefix, _, number = text.partition(":")
    if prefix != "o" or not number.isdigit():
        raise InvalidRequestError("invalid cursor")
    return int(number)


def paginate(items: list[T], cursor: str | None, page_size: int, request: Request) -> Page[T]:
    """Slice ``items`` (already in their final order) at ``cursor``; cursors are opaque offsets."""
    offset = _decode(cursor) if cursor else 0
    results = items[offset : offset + page_size]
    next_url = previous_url = None
    if offset + page_size < len(items):
        next_url = str(request.url.include_query_params(cursor=_encode(offset + page_size)))
    if offset > 0:
        previous = max(0, offset - page_size)
        previous_url = str(
            request.url.include_query_params(cursor=_encode(previous))
            if previous
            else request.url.remove_query_params("cursor")
        )
    return Page(results, next_url, previous_url)
