"""How a call's conversation is to run: who speaks first, voice activity detection, timed messages and the
tools the agent may use (the parts of a call definition with a structure of their own)."""

from __future__ import annotations

import enum

from pydantic import Field, model_validator

from callbridge.common.durations import Duration
from callbridge.common.models.base import ApiModel
from callbridge.common.models.json_values import JsonObject, StringMap


class AgentFirstSpeaker(ApiModel):
    """The agent speaks first. Only the default (``{}``) is supported yet: the agent speaks when ready."""

    uninterruptible: bool = False
    """Whether the caller may interrupt the greeting. Not supported yet: must be false."""
    text: str | None = None
    """A fixed greeting. Not supported yet: leave it out (your agent greets)."""
    prompt: str | None = None
    """A prompt for the model to write the greeting. Not supported yet: leave it out."""
    delay: Duration | None = None
    """How long to wait before greeting, such as ``"1s"``. Not supported yet: leave it out."""


class UserFallback(ApiModel):
    """What the agent does if the caller has not spoken in time."""

    delay: Duration | None = None
    """How long to wait for the caller, such as ``"10s"``."""
    text: str | None = None
    """A fixed line the agent then says."""
    prompt: str | None = None
    """A prompt for the model to write that line."""


class UserFirstSpeaker(ApiModel):
    """The caller speaks first. Not supported yet."""

    fallback: UserFallback | None = None
    """What happens if the caller stays silent."""


class FirstSpeakerSettings(ApiModel):
    """Who speaks first: exactly one of ``agent`` or ``user``. Only ``{"agent": {}}`` (the default) is
    supported yet."""

    agent: AgentFirstSpeaker | None = None
    """The agent speaks first."""
    user: UserFirstSpeaker | None = None
    """The caller speaks first. Not supported yet."""

    @model_validator(mode="after")
    def _exactly_one(self) -> FirstSpeakerSettings:
        if (self.agent is None) == (self.user is None):
            raise ValueError("firstSpeakerSettings must set exactly one of 'agent' or 'user'")
        return self


class VadSettings(ApiModel):
    """Voice activity detection settings, stored for agents that run their own VAD to read."""

    turn_endpoint_delay: Duration | None = None
    """Silence that ends the caller's turn, such as ``"0.384s"``."""
    minimum_turn_duration: Duration | None = None
    """The shortest speech that counts as a turn."""
    minimum_interruption_duration: Duration | None = None
    """The shortest speech that interrupts the agent."""
    frame_activation_threshold: float | None = Field(
        default=None, ge=0.1, le=1.0, description="Speech probability above which a frame counts as speech."
    )


class EndBehavior(enum.StrEnum):
    """What happens after a timed message: keep waiting, or hang up (soft: unless the caller interacts)."""

    UNSPECIFIED = "END_BEHAVIOR_UNSPECIFIED"
    HANG_UP_SOFT = "END_BEHAVIOR_HANG_UP_SOFT"
    HANG_UP_STRICT = "END_BEHAVIOR_HANG_UP_STRICT"


class TimedMessage(ApiModel):
    """A message said after a time of caller inactivity (``inactivityMessages``, not supported yet)."""

    duration: Duration
    """Inactivity after the previous message, such as ``"30s"``."""
    message: str
    """What the agent says; ``{{var}}`` placeholders are filled from ``templateContext``."""
    end_behavior: EndBehavior = EndBehavior.UNSPECIFIED
    """Whether the call ends after this message."""


class SelectedTool(ApiModel):
    """A tool the agent may use: exactly one of ``toolId``, ``toolName``, ``temporaryTool``. Only
    ``{"toolName": "hangUp"}``, which callbridge executes itself, is supported yet."""

    tool_id: str | None = None
    """A durable tool's id. Not supported yet."""
    tool_name: str | None = None
    """A tool by name; ``hangUp`` is the one callbridge executes."""
    temporary_tool: JsonObject | None = None
    """An inline tool definition. Not supported yet."""
    name_override: str | None = Field(
        default=None,
        pattern=r"^[a-zA-Z0-9_-]{1,64}$",
        description="The name the model sees. Not supported yet: a renamed hangUp would not be recognised.",
    )
    description_override: str | None = None
    """The description the model sees (for your agent's model)."""
    auth_tokens: StringMap | None = None
    """Tokens for a durable tool's authentication. Not supported yet."""
    parameter_overrides: JsonObject | None = None
    """Fixed parameter values, hidden from the model (for your agent's model)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> SelectedTool:
        chosen = [v for v in (self.tool_id, self.tool_name, self.temporary_tool) if v is not None]
        if len(chosen) != 1:
            raise ValueError("a selected tool sets exactly one of toolId, toolName, temporaryTool")
        return self
