"""How a call's conversation is to run: who speaks first, voice activity detection, timed messages and the
tools the agent may use (the parts of a call definition with a structure of their own)."""

from __future__ import annotations

import enum
from datetime import timedelta

from pydantic import Field, model_validator

from callbridge.common.durations import Duration
from callbridge.common.models.base import ApiModel
from callbridge.common.models.json_values import JsonObject, StringMap


def _not_negative(value: timedelta | None, name: str) -> None:
    if value is not None and value < timedelta(0):
        raise ValueError(f"{name} may not be negative")


def _one_line(text: str | None, prompt: str | None, where: str) -> None:
    if text is not None and prompt is not None:
        raise ValueError(f"{where}: set at most one of text or prompt (a fixed line, or a prompt for one)")


class AgentFirstSpeaker(ApiModel):
    """The agent speaks first (media's first_speaker.py carries this out)."""

    uninterruptible: bool = False
    """The caller cannot cut the agent's first turn: callbridge ignores the agent's
    ``playback_clear_buffer`` until that turn has played, and says so in ``forced_agent_message``."""
    text: str | None = None
    """A fixed greeting: sent to the agent as ``forced_agent_message`` (``content``) to say."""
    prompt: str | None = None
    """A prompt for the agent's model to write the greeting: sent as ``user_text_message`` with
    ``urgency: immediate``."""
    delay: Duration | None = None
    """How long after the stream started the agent's audio starts playing (and ``text``/``prompt`` are
    sent), such as ``"1s"``; what the agent sends before then is held back and plays then."""

    @model_validator(mode="after")
    def _check(self) -> AgentFirstSpeaker:
        _not_negative(self.delay, "firstSpeakerSettings.agent.delay")
        _one_line(self.text, self.prompt, "firstSpeakerSettings.agent")
        return self


class UserFallback(ApiModel):
    """What the agent does if the caller has not spoken in time."""

    delay: Duration | None = None
    """How long to wait for the caller, such as ``"10s"`` (required)."""
    text: str | None = None
    """A fixed line the agent then says (``forced_agent_message``)."""
    prompt: str | None = None
    """A prompt for the agent's model to write that line (``user_text_message``, ``urgency: immediate``);
    with neither, the agent's own greeting, held back until then, plays."""

    @model_validator(mode="after")
    def _check(self) -> UserFallback:
        if self.delay is None:
            raise ValueError(
                "firstSpeakerSettings.user.fallback needs a delay: how long to wait for the caller, "
                "such as '5s' (leave fallback out to wait for the caller indefinitely)"
            )
        _not_negative(self.delay, "firstSpeakerSettings.user.fallback.delay")
        _one_line(self.text, self.prompt, "firstSpeakerSettings.user.fallback")
        return self


class UserFirstSpeaker(ApiModel):
    """The caller speaks first: the agent's audio is held back until the caller has spoken (media's voice
    activity detector, tuned by ``vadSettings``) or pressed a key."""

    fallback: UserFallback | None = None
    """What happens if the caller stays silent; without it the agent waits for the caller indefinitely."""


class FirstSpeakerSettings(ApiModel):
    """Who speaks first: exactly one of ``agent`` or ``user``. Default ``{"agent": {}}``: the agent
    speaks first, when it is ready."""

    agent: AgentFirstSpeaker | None = None
    """The agent speaks first."""
    user: UserFirstSpeaker | None = None
    """The caller speaks first."""

    @model_validator(mode="after")
    def _exactly_one(self) -> FirstSpeakerSettings:
        if (self.agent is None) == (self.user is None):
            raise ValueError("firstSpeakerSettings must set exactly one of 'agent' or 'user'")
        return self


class VadSettings(ApiModel):
    """How media's voice activity detector hears the caller while deciding who speaks first, and for
    inactivity messages and cancellable hang-ups (it runs on 32 ms frames: durations count in whole
    frames). Stored too for agents that run their own VAD."""

    turn_endpoint_delay: Duration | None = None
    """Silence that ends the caller's turn (default ``"0.384s"``): when a caller who spoke first has
    stopped for this long, the agent is sent ``user_stopped_speaking``."""
    minimum_turn_duration: Duration | None = None
    """The least speech that makes a turn (default ``"0s"``; callbridge's detector needs at least
    0.128 s)."""
    minimum_interruption_duration: Duration | None = None
    """The least speech that interrupts the agent: for your agent, which decides on barge-in itself;
    callbridge's detector never interrupts the agent."""
    frame_activation_threshold: float | None = Field(
        default=None,
        ge=0.1,
        le=1.0,
        description="Speech probability at or above which a 32 ms frame counts as speech (callbridge's "
        "default when unset: 0.5).",
    )


class EndBehavior(enum.StrEnum):
    """What happens after a timed message: keep waiting, or hang up once it has been said (soft: unless the
    caller speaks or presses a key while it is said; strict: regardless)."""

    UNSPECIFIED = "END_BEHAVIOR_UNSPECIFIED"
    HANG_UP_SOFT = "END_BEHAVIOR_HANG_UP_SOFT"
    HANG_UP_STRICT = "END_BEHAVIOR_HANG_UP_STRICT"


class TimedMessage(ApiModel):
    """A message the agent says after a time of silence on the line (``inactivityMessages``): neither the
    caller (speech heard by media's voice activity detector, or a key) nor the agent active."""

    duration: Duration
    """Silence before it is said, counted from the end of the previous message (or from the last activity
    on the line), such as ``"30s"``. Any activity of the caller starts the list again from its first
    message."""
    message: str
    """What the agent says (``forced_agent_message``); ``{{var}}`` placeholders are filled from
    ``templateContext``. Empty: nothing is said (a silent hang-up, with an end behaviour)."""
    end_behavior: EndBehavior = EndBehavior.UNSPECIFIED
    """Whether the call ends after this message."""


class SelectedTool(ApiModel):
    """A tool the agent may use: exactly one of ``toolId``, ``toolName``, ``temporaryTool``. Only the
    built-in tools callbridge executes itself are supported yet, by ``toolName`` (``hangUp``,
    ``leaveVoicemail``, ``playDtmfSounds``, ``coldTransfer``)."""

    tool_id: str | None = None
    """A durable tool's id. Not supported yet."""
    tool_name: str | None = None
    """A built-in tool by name, which callbridge executes: ``hangUp``, ``leaveVoicemail``,
    ``playDtmfSounds`` or ``coldTransfer``."""
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
    """Fixed parameter values, hidden from the model: callbridge reads the static parameters of its tools
    here (``strict`` of ``hangUp``; ``strict`` and ``result`` of ``leaveVoicemail``; ``toneDuration`` and
    ``spaceDuration`` of ``playDtmfSounds``; ``target``, ``extraHeaders`` and ``holdMusicUrl`` of
    ``coldTransfer``)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> SelectedTool:
        chosen = [v for v in (self.tool_id, self.tool_name, self.temporary_tool) if v is not None]
        if len(chosen) != 1:
            raise ValueError("a selected tool sets exactly one of toolId, toolName, temporaryTool")
        return self
