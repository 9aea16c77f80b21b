"""Settings every service shares; each service extends :class:`CommonSettings` with its own fields."""

from __future__ import annotations

import enum
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callbridge.common.nats_auth import NatsCredentials

DEV_API_KEY = "cb-dev-key"
DEV_SECRET_KEY = "cb-dev-secret-do-not-use-in-production"  # noqa: S105  (the known dev default production refuses)
DEV_NATS_PASSWORD = "cb-dev-nats-password"  # noqa: S105  (docker-compose's dev default, refused in production)
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", DEV_API_KEY, DEV_SECRET_KEY, DEV_NATS_PASSWORD}


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class InsecureSettingsError(RuntimeError):
    """Production settings with a missing or placeholder secret."""


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLBRIDGE_", extra="ignore")

    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        description="'production' refuses to start with a missing or placeholder API key or secret key.",
    )
    nats_url: str = Field(default="nats://127.0.0.1:4222", description="NATS with JetStream.")
    nats_user: str | None = Field(default=None, description="NATS user name, with CALLBRIDGE_NATS_PASSWORD.")
    nats_password: SecretStr | None = Field(
        default=None, description="NATS password, with CALLBRIDGE_NATS_USER."
    )
    nats_nkey_seed_file: Path | None = Field(
        default=None,
        description="A file holding this service's NATS user nkey seed (SU…), instead of a password.",
    )
    nats_private: bool = Field(
        default=False,
        description="Production only: run without NATS credentials because nothing but callbridge can reach "
        "the NATS server (a private network, a sidecar).",
    )
    nats_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Copies JetStream keeps of every stream and KV bucket the services create (events, dial "
        "requests, webhook deliveries, live calls, call records, …): 1 on a single NATS server, 3 on a "
        "three-node cluster so that losing one server loses nothing. Applied at start-up; every service "
        "must have the same value.",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRET_KEY),
        description="Signs join URLs and encrypts provider secrets at rest. Shared by all services.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="json: one JSON object per line (time, level, logger, message, service, instance and "
        "call_id on every line about a call); text: the same as a line for a person.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP endpoint for traces, e.g. http://jaeger:4318; unset: no export."
    )
    instance_id: str = Field(
        default_factory=lambda: secrets.token_hex(4), description="Names this replica in logs and events."
    )
    call_retention_days: int = Field(
        default=90,
        ge=0,
        description="How long call records and their listing index are kept after their last change; "
        "0 keeps them for ever. Applied to the buckets at start-up.",
    )
    request_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long a connection to a listening port may take to send a complete request (an HTTP "
        "request or a WebSocket handshake) after it opens or after its previous response; then it is closed.",
    )

    @property
    def call_retention(self) -> timedelta | None:
        return timedelta(days=self.call_retention_days) if self.call_retention_days else None

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def nats_credentials(self) -> NatsCredentials:
        return NatsCredentials(self.nats_user, self.nats_password, self.nats_nkey_seed_file)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        credentials = self.nats_credentials  # raises ValueError for an incomplete or double set
        if credentials.nkey_seed_file is not None and not credentials.nkey_seed_file.is_file():
            raise ValueError(f"CALLBRIDGE_NATS_NKEY_SEED_FILE {credentials.nkey_seed_file} is not a file")
        if self.is_production:
            _require_real_secret("CALLBRIDGE_SECRET_KEY", self.secret_key.get_secret_value(), min_length=32)
            if self.nats_password is not None:
                _require_real_secret(
                    "CALLBRIDGE_NATS_PASSWORD", self.nats_password.get_secret_value(), min_length=16
                )
            if not credentials.present and not self.nats_private and not _url_has_credentials(self.nats_url):
                raise InsecureSettingsError(
                    "production needs NATS credentials (CALLBRIDGE_NATS_USER and CALLBRIDGE_NATS_PASSWORD, "
                    "or CALLBRIDGE_NATS_NKEY_SEED_FILE); set CALLBRIDGE_NATS_PRIVATE=true only if nothing "
                    "but callbridge can reach the NATS server"
                )
        return self


def _url_has_credentials(url: str) -> bool:
    """``nats://user:password@host`` or ``nats://token@host``: nats-py logs in with what the URL carries."""
    return "@" in urlsplit(url).netloc


def _require_real_secret(name: str, value: str, *, min_length: int) -> None:
    if value.strip().lower() in _PLACEHOLDERS or len(value) < min_length:
        raise InsecureSettingsError(
            f"{name} must be set to a real secret of at least {min_length} characters in production"
        )


def require_real_secret(name: str, value: str, *, min_length: int) -> None:
    """Raise InsecureSettingsError when ``value`` is a placeholder or too short."""
    _require_real_secret(name, value, min_length=min_length)
