"""Key derivation from ``CALLBRIDGE_SECRET_KEY`` and encryption of provider secrets at rest (Fernet)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken


class SecretDecryptionError(Exception):
    """A stored secret does not decrypt with the configured key (the key changed?)."""


def derive_key(secret_key: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose, so join-token signing and encryption never share a key."""
    return hmac.new(secret_key.encode(), f"callbridge:{purpose}".encode(), hashlib.sha256).digest()


class SecretBox:
    """Encrypts and decrypts provider secrets for storage in KV."""

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret_key, "secrets-at-rest")))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretDecryptionError("stored secret does not decrypt with CALLBRIDGE_SECRET_KEY") from exc
