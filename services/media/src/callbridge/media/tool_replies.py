"""The answers to an agent's tool invocation (``client_tool_result``), as every tool handler sends them, and
what the agent is told when a tool's work fails after it was answered (a transfer the provider refused)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from callbridge.common.events import MAX_TOOL_DETAIL_CHARS, AgentToolAnswered


def tool_result(
    invocation_id: str,
    result: str,
    *,
    response_type: str | None = None,
    agent_reaction: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "client_tool_result", "invocationId": invocation_id, "result": result}
    if response_type is not None:
        message["responseType"] = response_type
    if agent_reaction is not None:
        message["agentReaction"] = agent_reaction
    return message


def tool_error(invocation_id: str, error: str) -> dict[str, Any]:
    return {
        "type": "client_tool_result",
        "invocationId": invocation_id,
        "errorType": "undefined",
        "errorMessage": error,
    }


def transfer_failed(target: str, detail: str) -> dict[str, Any]:
    """A ``user_text_message`` telling the agent that the transfer to ``target`` failed (the transfer service
    gave the call back: the provider refused it, or it could not be asked), and that it has the caller
    again. The ``coldTransfer`` tool was answered when the transfer was requested."""
    text = f"[The transfer to {target} failed: {detail}. The caller is still on the line with you.]"
    return {"type": "user_text_message", "text": text, "urgency": "immediate"}


def tool_answered(call_id: UUID, message: dict[str, Any]) -> AgentToolAnswered:
    """The ``tool.answered`` event of a ``client_tool_result`` sent to the agent."""
    error = message.get("errorMessage")
    detail = str(error if error is not None else message.get("result", ""))
    response_type = message.get("responseType")
    return AgentToolAnswered(
        call_id=call_id,
        invocation_id=str(message.get("invocationId", "")),
        outcome="error" if error is not None else "result",
        detail=detail[:MAX_TOOL_DETAIL_CHARS],
        response_type=response_type if isinstance(response_type, str) else None,
    )
