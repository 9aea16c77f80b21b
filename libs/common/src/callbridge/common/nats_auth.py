"""How a service logs in to NATS: a user and password, or an nkey seed file (``SU…``, challenge-response).

The bucket and the events stream hold every call record, so a NATS server reachable from anywhere but
callbridge needs authorization; production refuses to start without credentials unless told the server
is private (``CALLBRIDGE_NATS_PRIVATE``). Values come from the settings; the password is a ``SecretStr``
and never appears in a message or a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr


@dataclass(frozen=True, slots=True)
class NatsCredentials:
    user: str | None = None
    password: SecretStr | None = None
    nkey_seed_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.user is None) != (self.password is None):
            raise ValueError(
                "CALLBRIDGE_NATS_USER and CALLBRIDGE_NATS_PASSWORD are set together or not at all"
            )
        if self.user is not None and self.nkey_seed_file is not None:
            raise ValueError("set CALLBRIDGE_NATS_USER/PASSWORD or CALLBRIDGE_NATS_NKEY_SEED_FILE, not both")

    @property
    def present(self) -> bool:
        return self.user is not None or self.nkey_seed_file is not None

    def describe(self) -> str:
        """Which credentials, for messages: the user name or the seed file, never a secret."""
        if self.user is not None:
            return f"user {self.user!r} (CALLBRIDGE_NATS_USER / CALLBRIDGE_NATS_PASSWORD)"
        if self.nkey_seed_file is not None:
            return f"the nkey seed in {self.nkey_seed_file} (CALLBRIDGE_NATS_NKEY_SEED_FILE)"
        return "no credentials"

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments of ``nats.connect`` (nats-py) for these credentials."""
        if self.user is not None and self.password is not None:
            return {"user": self.user, "password": self.password.get_secret_value()}
        if self.nkey_seed_file is not None:
            return {"nkeys_seed": str(self.nkey_seed_file)}
        return {}

    def settings(self) -> dict[str, Any]:
        """The same credentials as ``CommonSettings`` fields (for building settings in code)."""
        return {
            "nats_user": self.user,
            "nats_password": self.password,
            "nats_nkey_seed_file": self.nkey_seed_file,
        }


NO_CREDENTIALS = NatsCredentials()
