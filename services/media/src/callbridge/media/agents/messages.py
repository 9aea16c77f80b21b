"""The data messages an agent sends (serverWebSocket protocol), parsed at the edge into typed models.

``parse_agent_message`` is the one guarded boundary for them: a text frame becomes one of the models below,
``None`` for a well-formed message of a type callbridge does not act on (counted as ignored), or an
``InvalidAgentMessage`` for anything else, whatever the parse raised (counted as rejected, with a
rate-limited warning). Sizes are bounded here: a transcript's text is cut, a tool's parameters too deep or
too large are dropped with a note, since they go into events on the bus.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_TEXT_CHARS: Final = 16_000
"""A transcript's ``text`` or ``delta`` is cut here: minutes of speech, far below a bus message's size."""
MAX_PARAMETERS_BYTES: Final = 8 * 1024
MAX_PARAMETERS_DEPTH: Final = 16
PARAMETERS_DROPPED: Final = "droppedByCallbridge"
"""The only key of a tool invocation's ``parameters`` that were dropped; its value says why."""


class InvalidAgentMessage(ValueError):
    """A text frame from the agent that is not a valid message of the protocol (counted and skipped)."""


def _cut(text: str | None) -> str | None:
    return text[:MAX_TEXT_CHARS] if text is not None else None


def _bounded(parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters, or a note in their place when they nest deeper or weigh more than the limits."""
    depth = _depth_beyond(parameters, MAX_PARAMETERS_DEPTH)
    if depth:
        return {PARAMETERS_DROPPED: f"parameters nest deeper than {MAX_PARAMETERS_DEPTH} levels"}
    size = len(orjson.dumps(parameters))
    if size > MAX_PARAMETERS_BYTES:
        return {PARAMETERS_DROPPED: f"parameters of {size} bytes exceed the limit of {MAX_PARAMETERS_BYTES}"}
    return parameters


def _depth_beyond(value: object, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` levels of objects and arrays (iterative: any depth)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


Text = Annotated[str | None, AfterValidator(_cut)]


class _AgentMessage(BaseModel):
    # Strict: JSON types as the protocol has them ("3" is not an ordinal, 1 is not a bool). Fields the
    # protocol adds later (e.g. a transcript's ``medium``) are ignored.
    model_config = ConfigDict(
        frozen=True, extra="ignore", strict=True, validate_by_name=True, validate_by_alias=True
    )


class PlaybackClearBuffer(_AgentMessage):
    """Barge-in: drop the agent's audio not yet played."""

    type: Literal["playback_clear_buffer"] = "playback_clear_buffer"


class Transcript(_AgentMessage):
    type: Literal["transcript"] = "transcript"
    role: Literal["user", "agent"]
    text: Text = None
    delta: Text = None
    final: bool = False
    ordinal: int | None = Field(default=None, ge=0)


class StateChanged(_AgentMessage):
    type: Literal["state"] = "state"
    state: str = Field(min_length=1, max_length=64)


class ClientToolInvocation(_AgentMessage):
    type: Literal["client_tool_invocation"] = "client_tool_invocation"
    tool_name: str = Field(alias="toolName", min_length=1, max_length=64)
    invocation_id: str | None = Field(default=None, alias="invocationId", min_length=1, max_length=128)
    parameters: Annotated[dict[str, Any], AfterValidator(_bounded)] = Field(default_factory=dict)


AgentMessage = Annotated[
    PlaybackClearBuffer | Transcript | StateChanged | ClientToolInvocation, Field(discriminator="type")
]
_ADAPTER: TypeAdapter[AgentMessage] = TypeAdapter(AgentMessage)
KNOWN_TYPES: Final = frozenset({"playback_clear_buffer", "transcript", "state", "client_tool_invocation"})


def parse_agent_message(raw: str | bytes) -> AgentMessage | None:
    """One text frame: its typed message, None for a type callbridge does not act on, or raises
    InvalidAgentMessage, whatever went wrong while parsing it."""
    try:
        return _parse(raw)
    except InvalidAgentMessage:
        raise
    except Exception as exc:
        raise InvalidAgentMessage(f"unreadable message ({type(exc).__name__}: {str(exc)[:120]})") from exc


def _parse(raw: str | bytes) -> AgentMessage | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidAgentMessage(f"not JSON: {exc}"[:200]) from None
    if not isinstance(data, dict):
        raise InvalidAgentMessage(f"a JSON {type(data).__name__}, not an object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise InvalidAgentMessage("no string 'type'")
    if kind not in KNOWN_TYPES:
        return None
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'][1:]) or 'message'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)[:3]
        )
        raise InvalidAgentMessage(f"invalid {kind}: {problems}"[:300]) from None
