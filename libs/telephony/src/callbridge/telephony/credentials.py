"""What every provider config shares: which agents may take its calls, the request context mapping, and how
write-only secrets are sealed and updated (Ultravox §3.1, §3.2). Each provider's own fields are in its
sub-package's ``credentials.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar
from uuid import UUID

from pydantic import AfterValidator, Field, ValidationError, model_validator

from callbridge.common.capacity import AccountLimits
from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.json_values import StringMap
from callbridge.common.models.medium import Provider
from callbridge.common.models.sealing import Encrypt, secret_prefix

MAX_ALLOWED_AGENTS = 100
MAX_MAPPED_FIELDS = 100
MAX_PATH_SEGMENTS = 8
"""A mapped template context field is at most this many levels deep (``user.phone_number`` is 2)."""
MAX_PATH_CHARS = 256
MAX_ACCOUNT_CALLS = 100_000
MAX_CALLS_PER_SECOND = 10_000.0


class ConfigChangeError(ValueError):
    """A create or update would leave a provider config invalid; the message says why."""


def _check_mapping(mapping: dict[str, str]) -> dict[str, str]:
    """Each side a dotted path of at most MAX_PATH_SEGMENTS non-empty segments: the template context a
    webhook builds from the mapping stays shallow enough to be stored and read back."""
    if len(mapping) > MAX_MAPPED_FIELDS:
        raise ValueError(f"maps {len(mapping)} fields; at most {MAX_MAPPED_FIELDS} are allowed")
    for path in (*mapping.keys(), *mapping.values()):
        segments = path.split(".")
        if len(path) > MAX_PATH_CHARS or len(segments) > MAX_PATH_SEGMENTS or not all(segments):
            raise ValueError(
                f"{path[:64]!r} is not a dotted field path of at most {MAX_PATH_SEGMENTS} non-empty "
                f"segments and {MAX_PATH_CHARS} characters"
            )
    return mapping


ContextMapping = Annotated[StringMap, AfterValidator(_check_mapping)]


_ALLOWED = f"The agents that may take this provider's incoming calls (at most {MAX_ALLOWED_AGENTS})."
_ALLOW_ALL = "Every agent may take this provider's incoming calls (then leave the list empty)."
_MAPPING = (
    'Webhook field -> template context field, both dotted paths: ``{"From": "user.phone_number"}`` '
    f"puts the caller's number at ``{{{{user.phone_number}}}}``; at most {MAX_MAPPED_FIELDS} fields, "
    f"{MAX_PATH_SEGMENTS} levels."
)


_MAX_CONCURRENT = (
    "The most calls, inbound and outbound, the account may carry at once; callbridge refuses an outbound "
    "call beyond it (less reservedInboundCalls) with 429 and Retry-After. Unset: no limit."
)
_MAX_PER_SECOND = (
    "The most outbound calls callbridge may start through the account per second (the provider's own CPS "
    "limit); one more is refused with 429 and Retry-After. Unset: no limit."
)
_RESERVED = (
    "How many of maxConcurrentCalls are kept for inbound calls: outbound calls never use them. Needs "
    "maxConcurrentCalls."
)


def _check_limits(max_concurrent: int | None, reserved: int) -> None:
    if reserved and max_concurrent is None:
        raise ConfigChangeError("reservedInboundCalls needs maxConcurrentCalls")
    if max_concurrent is not None and reserved > max_concurrent:
        raise ConfigChangeError(
            f"reservedInboundCalls ({reserved}) may not exceed maxConcurrentCalls ({max_concurrent})"
        )


class AgentAccess(ApiModel):
    """The allow-list, the context mapping and the account's call limits, as a create body sets them and the
    API returns them."""

    call_creation_allowed_agent_ids: list[UUID] = Field(
        default_factory=list, max_length=MAX_ALLOWED_AGENTS, description=_ALLOWED
    )
    call_creation_allow_all_agents: bool = Field(default=False, description=_ALLOW_ALL)
    request_context_mapping: ContextMapping = Field(default_factory=dict, description=_MAPPING)
    max_concurrent_calls: int | None = Field(
        default=None, ge=1, le=MAX_ACCOUNT_CALLS, description=_MAX_CONCURRENT
    )
    max_calls_per_second: float | None = Field(
        default=None, ge=1, le=MAX_CALLS_PER_SECOND, description=_MAX_PER_SECOND
    )
    reserved_inbound_calls: int = Field(default=0, ge=0, le=MAX_ACCOUNT_CALLS, description=_RESERVED)

    @model_validator(mode="after")
    def _not_both(self) -> Self:
        _check_access(self.call_creation_allow_all_agents, self.call_creation_allowed_agent_ids)
        _check_limits(self.max_concurrent_calls, self.reserved_inbound_calls)
        return self


class AgentAccessUpdate(ApiModel):
    """The same fields for PATCH: each optional; null leaves the field as it is."""

    call_creation_allowed_agent_ids: list[UUID] | None = Field(
        default=None, max_length=MAX_ALLOWED_AGENTS, description=_ALLOWED
    )
    call_creation_allow_all_agents: bool | None = Field(default=None, description=_ALLOW_ALL)
    request_context_mapping: ContextMapping | None = Field(default=None, description=_MAPPING)
    max_concurrent_calls: int | None = Field(
        default=None, ge=1, le=MAX_ACCOUNT_CALLS, description=_MAX_CONCURRENT + " null removes the limit."
    )
    max_calls_per_second: float | None = Field(
        default=None, ge=1, le=MAX_CALLS_PER_SECOND, description=_MAX_PER_SECOND + " null removes the limit."
    )
    reserved_inbound_calls: int | None = Field(
        default=None, ge=0, le=MAX_ACCOUNT_CALLS, description=_RESERVED
    )


_LIMITS_CLEARABLE = frozenset({"max_concurrent_calls", "max_calls_per_second"})
_ACCESS_FIELDS = frozenset(AgentAccessUpdate.model_fields) - _LIMITS_CLEARABLE


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
    request_context_mapping: ContextMapping = Field(default_factory=dict)
    max_concurrent_calls: int | None = None
    max_calls_per_second: float | None = None
    reserved_inbound_calls: int = 0

    @property
    def limits(self) -> AccountLimits:
        """What the capacity ledger enforces for this account (capacity.py)."""
        return AccountLimits(
            max_concurrent_calls=self.max_concurrent_calls,
            max_calls_per_second=self.max_calls_per_second,
            reserved_inbound_calls=self.reserved_inbound_calls,
        )

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
            if value is None and name not in _ACCESS_FIELDS and name not in self._clearable()
        ]
        if nulls:
            names = " and ".join(type(body).model_fields[name].alias or name for name in nulls)
            raise ConfigChangeError(f"{names} cannot be null")
        update = {
            name: value for name, value in changes.items() if value is not None or name in self._clearable()
        }
        merged = {**self.model_dump(by_alias=False), **_seal(update, self.SECRETS, encrypt)}
        try:
            changed = type(self).model_validate(merged)
        except ValidationError as exc:
            raise ConfigChangeError("; ".join(error["msg"] for error in exc.errors())) from exc
        _check_access(changed.call_creation_allow_all_agents, changed.call_creation_allowed_agent_ids)
        _check_limits(changed.max_concurrent_calls, changed.reserved_inbound_calls)
        return changed

    def _clearable(self) -> frozenset[str]:
        return _LIMITS_CLEARABLE | frozenset(self.CLEARABLE)

    def public(self) -> AgentAccess:
        """The config as the API shows it: the provider's ``…ConfigPublic`` model, secrets as prefixes."""
        raise NotImplementedError(f"{type(self).__name__} does not say how the API shows it")

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


StoredT = TypeVar("StoredT", bound=StoredTelephonyConfig)


@dataclass(frozen=True, slots=True)
class CredentialModels(Generic[StoredT]):
    """One provider's credential models: the API's create, update and public bodies and the KV record."""

    create: type[AgentAccess]
    update: type[AgentAccessUpdate]
    public: type[AgentAccess]
    stored: type[StoredT]
