"""Settings every service shares; each service extends :class:`CommonSettings` with its own fields."""

from __future__ import annotations

import enum
import secrets
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_API_KEY = "cb-dev-key"
DEV_SECRET_KEY = "cb-dev-secret-do-not-use-in-production"  # noqa: S105  (the known dev default production refuses)
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", DEV_API_KEY, DEV_SECRET_KEY}


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
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRET_KEY),
        description="Signs join URLs and encrypts provider secrets at rest. Shared by all services.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP endpoint for traces, e.g. http://jaeger:4318; unset: no export."
    )
    instance_id: str = Field(
        default_factory=lambda: secrets.token_hex(4), description="Names this replica in logs and events."
    )

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.is_production:
            _require_real_secret("CALLBRIDGE_SECRET_KEY", self.secret_key.get_secret_value(), min_length=32)
        return self


def _require_real_secret(name: str, value: str, *, min_length: int) -> None:
    if value.strip().lower() in _PLACEHOLDERS or len(value) < min_length:
        raise InsecureSettingsError(
            f"{name} must be set to a real secret of at least {min_length} characters in production"
        )


def require_real_secret(name: str, value: str, *, min_length: int) -> None:
    """Raise InsecureSettingsError when ``value`` is a placeholder or too short."""
    _require_real_secret(name, value, min_length=min_length)
