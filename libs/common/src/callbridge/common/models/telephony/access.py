"""What every provider config shares: which agents may take its calls, the request context mapping, and how
write-only secrets are sealed and updated (Ultravox §3.1, §3.2)."""

from __future__ import annotations

from typing import Any, ClassVar, Self
from uuid import UUID

from pydantic import Field, ValidationError, model_validator

from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.medium import Provider
from callbridge.common.models.sealing import Encrypt, secret_prefix

MAX_ALLOWED_AGENTS = 100


class ConfigChangeError(ValueError):
    """A create or update would leave a provider config invalid; the message says why."""


class AgentAccess(ApiModel):
    """The allow-list and the context mapping, as a create body sets them and the API returns them."""

    call_creation_allowed_agent_ids: list[UUID] = Field(default_factory=list, max_length=MAX_ALLOWED_AGENTS)
    call_creation_allow_all_agents: bool = False
    request_context_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Dot-separated webhook field -> dot-separated template context field.",
    )

    @model_validator(mode="after")
    def _not_both(self) -> Self:
        _check_access(self.call_creation_allow_all_agents, self.call_creation_allowed_agent_ids)
        return self


class AgentAccessUpdate(ApiModel):
    """The same fields for PATCH: each optional; null leaves the field as it is."""

    call_creation_allowed_agent_ids: list[UUID] | None = Field(default=None, max_length=MAX_ALLOWED_AGENTS)
    call_creation_allow_all_agents: bool | None = None
    request_context_mapping: dict[str, str] | None = None


_ACCESS_FIELDS = frozenset(AgentAccessUpdate.model_fields)


class StoredTelephonyConfig(StoredModel):
    """The KV record of one provider's config. Each secret ``x`` is kept as ``x_encrypted`` (Fernet, see
    callbridge.common.secrets) plus ``x_prefix``; the plaintext is never stored or returned."""

    PROVIDER: ClassVar[Provider]
    SECRETS: ClassVar[tuple[str, ...]]
    """Write-only fields of the create/update bodies."""
    CLEARABLE: ClassVar[tuple[str, ...]] = ()
    """Optional fields that PATCH with null clears; any other non-access field may not be null."""

    call_creation_allowed_agent_ids: list[UUID] = Field(default_factory=list)
    call_creation_allow_all_agents: bool = False
    request_context_mapping: dict[str, str] = Field(default_factory=dict)

    def allows_agent(self, agent_id: UUID) -> bool:
        return self.call_creation_allow_all_agents or agent_id in self.call_creation_allowed_agent_ids

    @classmethod
    def from_create(cls, body: ApiModel, encrypt: Encrypt) -> Self:
        fields = body.model_dump(by_alias=False)
        return cls.model_validate(_seal(fields, cls.SECRETS, encrypt))

    def with_changes(self, body: ApiModel, encrypt: Encrypt) -> Self:
        """This config with a PATCH body applied; ConfigChangeError when the result would be invalid."""
        changes = body.model_dump(exclude_unset=True, by_alias=False)
        nulls = [
            name
            for name, value in changes.items()
            if value is None and name not in _ACCESS_FIELDS and name not in self.CLEARABLE
        ]
        if nulls:
            names = " and ".join(type(body).model_fields[name].alias or name for name in nulls)
            raise ConfigChangeError(f"{names} cannot be null")
        update = {
            name: value for name, value in changes.items() if value is not None or name in self.CLEARABLE
        }
        merged = {**self.model_dump(by_alias=False), **_seal(update, self.SECRETS, encrypt)}
        try:
            changed = type(self).model_validate(merged)
        except ValidationError as exc:
            raise ConfigChangeError("; ".join(error["msg"] for error in exc.errors())) from exc
        _check_access(changed.call_creation_allow_all_agents, changed.call_creation_allowed_agent_ids)
        return changed

    def _public_fields(self) -> dict[str, Any]:
        """The stored fields the API may show: everything but the encrypted secrets."""
        return {
            name: value
            for name, value in self.model_dump(by_alias=False).items()
            if not name.endswith("_encrypted")
        }


def _seal(fields: dict[str, Any], secrets: tuple[str, ...], encrypt: Encrypt) -> dict[str, Any]:
    sealed = dict(fields)
    for name in secrets:
        if sealed.get(name) is not None:
            secret = sealed.pop(name)
            sealed[f"{name}_encrypted"] = encrypt(secret)
            sealed[f"{name}_prefix"] = secret_prefix(secret)
    return sealed


def _check_access(allow_all: bool, allowed: list[UUID]) -> None:
    if allow_all and allowed:
        raise ConfigChangeError(
            "callCreationAllowedAgentIds may not be set when callCreationAllowAllAgents is true"
        )
