"""The answers to an agent's tool invocation (``client_tool_result``), as every tool handler sends them."""

from __future__ import annotations

from typing import Any


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
