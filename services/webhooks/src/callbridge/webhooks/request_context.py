"""``requestContextMapping``: webhook fields into the call's template context (Ultravox §2.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callbridge.common.templating import lookup, set_dotted


def map_request_context(form: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """Map webhook fields into the template context.

    ``{"From": "user.phone_number"}`` turns ``From=+1555…`` into ``{"user": {"phone_number": "+1555…"}}``.
    """
    context: dict[str, Any] = {}
    for source, target in mapping.items():
        try:
            value = lookup(dict(form), source) if "." in source else form[source]
        except KeyError:
            continue
        set_dotted(context, target, value)
    return context
