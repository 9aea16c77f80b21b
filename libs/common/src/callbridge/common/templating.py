"""``{{var}}`` placeholders, filled from ``templateContext`` in the fields Ultravox documents (§2.2)."""

from __future__ import annotations

import re
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")


class MissingTemplateVariableError(KeyError):
    """A ``{{var}}`` placeholder with no value in the template context."""


def lookup(context: dict[str, Any], dotted: str) -> Any:
    """``lookup({"user": {"phone": "1"}}, "user.phone") == "1"``; raises KeyError when absent."""
    value: Any = context
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def render(template: str, context: dict[str, Any], *, strict: bool = True) -> str:
    """Replace each ``{{name}}`` or ``{{a.b}}`` with its value.

    Unknown names raise MissingTemplateVariableError unless ``strict=False``, which leaves them as they are.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        try:
            value = lookup(context, name)
        except KeyError:
            if strict:
                raise MissingTemplateVariableError(name) from None
            return match.group(0)
        return value if isinstance(value, str) else str(value)

    return _PLACEHOLDER.sub(substitute, template)


def variables(template: str) -> set[str]:
    """The placeholder names a template uses."""
    return {match.group(1) for match in _PLACEHOLDER.finditer(template)}


def set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_dotted(d, "user.phone_number", v)`` creates the nested dicts it needs."""
    parts = dotted.split(".")
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value
