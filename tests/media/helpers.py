"""What the media tests share."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

MEDIA_SECRET_KEY = "media-test-secret-key-0123456789-abcdef"

MediaPort = Callable[..., AbstractAsyncContextManager[int]]
"""The ``media_port`` fixture: ``async with media_port(**settings) as port``."""
