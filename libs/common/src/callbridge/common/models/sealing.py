"""Write-only secrets in API models: how they are sealed for storage and what the API shows of them.

Models never hold the key: sealing and opening take the ``SecretBox`` methods (callbridge.common.secrets) as
plain callables, so a record can be sealed in webhooks and opened in media.
"""

from __future__ import annotations

from collections.abc import Callable

SECRET_PREFIX_LENGTH = 4

Encrypt = Callable[[str], str]
"""Seals a secret for storage (``SecretBox.encrypt``)."""
Decrypt = Callable[[str], str]
"""Opens a sealed secret (``SecretBox.decrypt``); raises ``SecretDecryptionError`` with the wrong key."""


def secret_prefix(secret: str) -> str:
    """What the API shows of a secret: its first 4 characters, and never more than half of it."""
    return secret[: min(SECRET_PREFIX_LENGTH, len(secret) // 2)]
