"""``agentBackend``: callbridge's own field saying which agent speaks on a call.

A WebSocket agent's ``headers`` (``Authorization: Bearer …``) are secrets, treated like provider secrets:
write-only. Each backend model has three forms: as a request gives it (``AgentBackend``, header values in
the clear), as KV stores it (``StoredAgentBackend``, each value Fernet-sealed plus its prefix) and as the
API answers and events show it (``AgentBackendPublic``: header names with at most 4 characters of each value,
under ``headerValuePrefixes``). The stored form extends the public one, so whatever shows a stored record
through a public type shows nothing sealed.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from callbridge.common.models.base import ApiModel
from callbridge.common.models.sealing import Decrypt, Encrypt, secret_prefix

# Rates an agent may speak at; every one is an integer multiple of 8 kHz so the live resampler stays
# polyphase with a fixed output frame size (see services/media audio/resampler.py).
AgentSampleRate = Literal[8000, 16000, 24000, 48000]

MAX_HEADERS = 32
MAX_HEADER_VALUE_CHARS = 4096
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")  # an HTTP token (RFC 9110 §5.6.2)
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")  # visible ASCII, space and tab: no line breaks
# The handshake's own headers, and callbridge's: set by media on every agent connection.
_RESERVED_HEADERS = frozenset(
    {"host", "connection", "upgrade", "content-length", "transfer-encoding", "user-agent"}
)
_RESERVED_PREFIXES = ("sec-websocket-", "x-callbridge-")


class _WebSocketBackendFields(ApiModel):
    url: str = Field(pattern=r"^wss?://", max_length=2048, description="The agent's ws:// or wss:// URL.")
    input_sample_rate: AgentSampleRate = Field(default=16000, description="The rate in Hz the agent hears.")
    output_sample_rate: AgentSampleRate | None = Field(
        default=None, description="Defaults to inputSampleRate, as in Ultravox's serverWebSocket medium."
    )

    @property
    def effective_output_sample_rate(self) -> int:
        return self.output_sample_rate or self.input_sample_rate


class WebSocketBackend(_WebSocketBackendFields):
    """Any server that speaks the server side of Ultravox's serverWebSocket protocol, as requests give it."""

    headers: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_HEADERS,
        description="Sent on the WebSocket handshake. Write-only: stored encrypted, never returned; answers "
        "show headerValuePrefixes instead.",
    )

    @model_validator(mode="before")
    @classmethod
    def _prefixes_are_not_headers(cls, data: Any) -> Any:
        if isinstance(data, dict) and ({"headerValuePrefixes", "header_value_prefixes"} & data.keys()):
            raise ValueError(
                "headerValuePrefixes is what callbridge answers, not what it takes: headers are write-only, "
                "send them in 'headers' with their full values"
            )
        return data

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        # Messages name headers, never values: values are secrets.
        seen: set[str] = set()
        for name, value in headers.items():
            lowered = name.lower()
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"header name {name[:40]!r} is not an HTTP token")
            if lowered in _RESERVED_HEADERS or lowered.startswith(_RESERVED_PREFIXES):
                raise ValueError(f"header {name} is set by callbridge itself on the agent connection")
            if lowered in seen:
                raise ValueError(f"header {name} is given twice (header names are case-insensitive)")
            seen.add(lowered)
            if len(value) > MAX_HEADER_VALUE_CHARS or not _HEADER_VALUE.fullmatch(value):
                raise ValueError(
                    f"the value of header {name} must be at most {MAX_HEADER_VALUE_CHARS} visible ASCII "
                    "characters, spaces or tabs"
                )
        return headers

    def seal(self, encrypt: Encrypt) -> SealedWebSocketBackend:
        return SealedWebSocketBackend(
            url=self.url,
            input_sample_rate=self.input_sample_rate,
            output_sample_rate=self.output_sample_rate,
            header_value_prefixes={name: secret_prefix(value) for name, value in self.headers.items()},
            sealed_headers={name: encrypt(value) for name, value in self.headers.items()},
        )


class WebSocketBackendPublic(_WebSocketBackendFields):
    """A WebSocket agent as the API answers it: the header values are not returned."""

    header_value_prefixes: dict[str, str] = Field(
        default_factory=dict,
        description="Each header's name with the first characters of its value (at most 4, at most half): "
        "enough to tell which credential is set, never the value. Headers are write-only.",
    )


class SealedWebSocketBackend(WebSocketBackendPublic):
    """A WebSocket agent as KV stores it: each header value sealed (Fernet, CALLBRIDGE_SECRET_KEY)."""

    sealed_headers: dict[str, str] = Field(default_factory=dict)
    plaintext_headers: dict[str, str] = Field(
        default_factory=dict,
        description="Headers of a record written before header values were sealed (callbridge 0.1). Read "
        "so those agents and calls keep working, never answered; webhooks seals an agent's at start-up.",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_plaintext_headers(cls, data: Any) -> Any:
        """callbridge 0.1 stored ``headers`` in the clear: keep them readable as ``plaintextHeaders``."""
        if not isinstance(data, dict) or not isinstance(data.get("headers"), dict):
            return data
        data = dict(data)
        legacy = {str(name): str(value) for name, value in data.pop("headers").items()}
        data.setdefault("plaintextHeaders", legacy)
        data.setdefault("headerValuePrefixes", {name: secret_prefix(value) for name, value in legacy.items()})
        return data

    def resealed(self, encrypt: Encrypt) -> SealedWebSocketBackend:
        """The same backend with any plaintext headers sealed."""
        if not self.plaintext_headers:
            return self
        sealed = {**self.sealed_headers, **{name: encrypt(v) for name, v in self.plaintext_headers.items()}}
        return self.model_copy(update={"sealed_headers": sealed, "plaintext_headers": {}})

    def public(self) -> WebSocketBackendPublic:
        return WebSocketBackendPublic(
            url=self.url,
            input_sample_rate=self.input_sample_rate,
            output_sample_rate=self.output_sample_rate,
            header_value_prefixes=self.header_value_prefixes,
        )

    def open_headers(self, decrypt: Decrypt) -> dict[str, str]:
        """The header values in the clear, for the agent connection (SecretDecryptionError: other key)."""
        return {**self.plaintext_headers, **{name: decrypt(v) for name, v in self.sealed_headers.items()}}


class EchoBackend(ApiModel):
    """Built-in: returns every audio frame it receives immediately and unchanged."""

    sample_rate: AgentSampleRate = Field(default=16000, description="The rate in Hz it echoes at.")


class DemoBackend(ApiModel):
    """Built-in scripted agent: greets, reads back DTMF digits, hangs up on '#'."""


class _AgentBackendChoice(ApiModel):
    """Which agent speaks on a call: exactly one of ``websocket``, ``echo`` or ``demo``. Each form
    narrows ``websocket`` to its own model."""

    websocket: _WebSocketBackendFields | None = Field(
        default=None, description="Your agent's WebSocket server."
    )
    echo: EchoBackend | None = Field(default=None, description="The built-in echo agent.")
    demo: DemoBackend | None = Field(default=None, description="The built-in scripted demo agent.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"agentBackend must set exactly one of websocket, echo, demo; got {chosen}")
        return self

    @property
    def kind(self) -> Literal["websocket", "echo", "demo"]:
        if self.websocket is not None:
            return "websocket"
        if self.echo is not None:
            return "echo"
        return "demo"


class AgentBackendPublic(_AgentBackendChoice):
    """Which agent speaks on a call, as the API answers and events show it."""

    websocket: WebSocketBackendPublic | None = Field(
        default=None, description="Your agent's WebSocket server (header values not shown)."
    )


class AgentBackend(_AgentBackendChoice):
    """Which agent speaks on a call, as a request gives it (header values in the clear)."""

    websocket: WebSocketBackend | None = Field(default=None, description="Your agent's WebSocket server.")

    def seal(self, encrypt: Encrypt) -> StoredAgentBackend:
        return StoredAgentBackend(
            websocket=None if self.websocket is None else self.websocket.seal(encrypt),
            echo=self.echo,
            demo=self.demo,
        )


class StoredAgentBackend(AgentBackendPublic):
    """Which agent speaks on a call, as KV stores it (header values sealed)."""

    websocket: SealedWebSocketBackend | None = Field(
        default=None, description="Your agent's WebSocket server (header values sealed)."
    )

    def public(self) -> AgentBackendPublic:
        return AgentBackendPublic(
            websocket=None if self.websocket is None else self.websocket.public(),
            echo=self.echo,
            demo=self.demo,
        )

    @property
    def has_plaintext_headers(self) -> bool:
        return self.websocket is not None and bool(self.websocket.plaintext_headers)

    def resealed(self, encrypt: Encrypt) -> StoredAgentBackend:
        if self.websocket is None:
            return self
        return self.model_copy(update={"websocket": self.websocket.resealed(encrypt)})


def demo_backend() -> StoredAgentBackend:
    """The backend of a call that names none: the built-in demo agent."""
    return StoredAgentBackend(demo=DemoBackend())


__all__ = [
    "AgentBackend",
    "AgentBackendPublic",
    "AgentSampleRate",
    "DemoBackend",
    "EchoBackend",
    "SealedWebSocketBackend",
    "StoredAgentBackend",
    "WebSocketBackend",
    "WebSocketBackendPublic",
    "demo_backend",
]
