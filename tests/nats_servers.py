"""An authorizing nats-server for tests: one user with a password, one with an nkey (challenge-response)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nkeys
from pydantic import SecretStr

from callbridge.common.nats_auth import NatsCredentials
from callbridge.devkit.nats_server import NatsServer

NATS_USER = "callbridge"
NATS_PASSWORD = "nats-test-password-3f9a1c77e2"


def new_user_nkey(seed_file: Path) -> str:
    """Write a new user seed (``SU…``) to ``seed_file``; return its public key (``U…``)."""
    seed: bytes = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    seed_file.write_bytes(seed)
    seed_file.chmod(0o600)
    public_key: bytes = nkeys.from_seed(bytearray(seed)).public_key
    return public_key.decode()


@dataclass(frozen=True)
class AuthorizingNats:
    server: NatsServer
    nkey_seed_file: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def password_login(self) -> NatsCredentials:
        return NatsCredentials(user=NATS_USER, password=SecretStr(NATS_PASSWORD))

    @property
    def nkey_login(self) -> NatsCredentials:
        return NatsCredentials(nkey_seed_file=self.nkey_seed_file)
