"""What callbridge acts on today, among the call fields Ultravox defines.

A field is either acted on (media or webhooks do something with it), or data an agent reads through
``GET /api/calls/{callId}`` (``systemPrompt``, ``model``, ``voice``, ``temperature``, ``languageHint``,
``initialMessages``, ``metadata``, ``initialState``), or refused here with a message saying
it is not supported yet, so that nobody relies on something that silently does nothing. The request models
(call definitions, agent call overrides, agent templates) run :func:`refuse_unsupported`; stored records do
not, so that a record stored before a refusal was added can still be read.
"""

from __future__ import annotations

from typing import Any, TypeVar

from callbridge.common.dtmf import DURATION_PARAMETERS, key_duration_s

S = TypeVar("S")

SUPPORTED_TOOLS = frozenset(
    {
        "hangUp",
        "leaveVoicemail",
        "playDtmfSounds",
        "coldTransfer",
        "warmTransfer",
        "acceptTransfer",
        "declineTransfer",
    }
)
"""Tools callbridge executes itself when the agent invokes them (``client_tool_invocation``)."""
STATIC_PARAMETER_TYPES: dict[str, dict[str, type]] = {
    "hangUp": {"strict": bool},
    "leaveVoicemail": {"strict": bool, "result": str},
    "coldTransfer": {"target": str, "holdMusicUrl": str},
    "warmTransfer": {
        "target": str,
        "holdMusicUrl": str,
        "transferSystemPromptTemplate": str,
        "ringTimeout": int,
    },
}
"""The static parameters (``parameterOverrides``) callbridge reads for its tools, and their JSON types:
refused here when of another type, rather than when the agent invokes the tool mid-call."""
_TOOL_FIELDS_NOT_ACTED_ON = (("name_override", "nameOverride"), ("auth_tokens", "authTokens"))
"""A renamed hangUp would not be recognised when invoked; callbridge's tools take no auth tokens.
(``descriptionOverride``/``parameterOverrides`` are for the agent's model, which reads the call.)"""


def refuse_unsupported(settings: S) -> S:
    """Raise ValueError naming every field of ``settings`` (a call definition, an agent call's overrides or
    an agent template) that callbridge would accept and then not act on; return ``settings`` otherwise."""
    problems = [
        *_recording(getattr(settings, "recording_enabled", None)),
        *_tools(getattr(settings, "selected_tools", None)),
        *_key_durations(getattr(settings, "selected_tools", None)),
        *_inactivity(getattr(settings, "inactivity_messages", None)),
        *_vad(getattr(settings, "vad_settings", None)),
        *_context_schema(getattr(settings, "context_schema", None)),
        *_billed(getattr(settings, "callbacks", None)),
    ]
    if problems:
        raise ValueError("; ".join(problems))
    return settings


def _recording(enabled: bool | None) -> list[str]:
    if not enabled:
        return []
    return ["recordingEnabled: true is not supported yet: callbridge does not record calls; leave it out"]


def _tools(tools: list[Any] | None) -> list[str]:
    refused: list[str] = []
    wrong_types: list[str] = []
    for index, tool in enumerate(tools or ()):
        if tool.tool_name in SUPPORTED_TOOLS:
            extras = [alias for name, alias in _TOOL_FIELDS_NOT_ACTED_ON if getattr(tool, name) is not None]
            if extras:
                refused.append(f"selectedTools[{index}]: {' and '.join(extras)}")
            wrong_types.extend(_static_parameters(index, tool.tool_name, tool.parameter_overrides))
        elif tool.tool_name is not None:
            refused.append(f"selectedTools[{index}]: toolName {tool.tool_name!r}")
        elif tool.tool_id is not None:
            refused.append(f"selectedTools[{index}]: toolId (durable tools)")
        else:
            refused.append(f"selectedTools[{index}]: temporaryTool")
    if not refused:
        return wrong_types
    supported = " and ".join(f'{{"toolName": "{name}"}}' for name in sorted(SUPPORTED_TOOLS))
    return [
        f"{'; '.join(refused)}: not supported yet: callbridge executes only {supported} "
        "(with descriptionOverride or parameterOverrides for the agent's model)",
        *wrong_types,
    ]


def _static_parameters(index: int, name: str, overrides: dict[str, Any] | None) -> list[str]:
    types = STATIC_PARAMETER_TYPES.get(name, {})
    return [
        f"selectedTools[{index}].parameterOverrides.{key} must be a {kind.__name__} "
        f"({'true or false' if kind is bool else 'text'}) for {name}"
        for key, kind in types.items()
        if overrides is not None and key in overrides and not isinstance(overrides[key], kind)
    ]


def _key_durations(tools: list[Any] | None) -> list[str]:
    """playDtmfSounds's static durations, which media acts on: refused now rather than at every press."""
    problems = []
    for index, tool in enumerate(tools or ()):
        overrides = (tool.parameter_overrides or {}) if tool.tool_name == "playDtmfSounds" else {}
        for name in DURATION_PARAMETERS:
            if name in overrides:
                try:
                    key_duration_s(name, overrides[name])
                except ValueError as exc:
                    problems.append(f"selectedTools[{index}].parameterOverrides: {exc}")
    return problems


def _inactivity(messages: list[Any] | None) -> list[str]:
    """A negative duration cannot be waited for (the duration pattern allows a sign). Checked here, not in
    the model, so a record stored before this check can still be read."""
    return [
        f"inactivityMessages[{index}].duration may not be negative"
        for index, message in enumerate(messages or ())
        if message.duration.total_seconds() < 0
    ]


def _vad(settings: Any) -> list[str]:
    """Negative durations (the duration pattern allows a sign) cannot be waited for. Checked here, not in
    the model, so a record stored before this check can still be read."""
    if settings is None:
        return []
    names = (
        ("turn_endpoint_delay", "turnEndpointDelay"),
        ("minimum_turn_duration", "minimumTurnDuration"),
        ("minimum_interruption_duration", "minimumInterruptionDuration"),
    )
    return [
        f"vadSettings.{alias} may not be negative"
        for name, alias in names
        if (value := getattr(settings, name)) is not None and value.total_seconds() < 0
    ]


def _context_schema(schema: dict[str, Any] | None) -> list[str]:
    if schema is None:
        return []
    return [
        "contextSchema is not supported yet: templateContext is not checked against a schema; leave it out"
    ]


def _billed(callbacks: Any) -> list[str]:
    if getattr(callbacks, "billed", None) is None:  # sealed callbacks (stored) have no billed
        return []
    return [
        "callbacks.billed is not supported: callbridge does not bill calls, so there is no billing event; "
        "use callbacks.ended (the call's duration is in its joined and ended times)"
    ]
