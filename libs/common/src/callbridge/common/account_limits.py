"""A provider account's capacity limits, read from its telephony config (``maxConcurrentCalls``,
``maxCallsPerSecond``, ``reservedInboundCalls``) without knowing the provider's config model."""

from __future__ import annotations

import json
from typing import Any

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from callbridge.common.capacity import AccountLimits


def limits_from(config: dict[str, Any]) -> AccountLimits:
    """The limits a stored config's JSON states; a field missing or not a number: no limit of that kind."""

    def number(name: str) -> float | None:
        value = config.get(name)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    concurrent = number("maxConcurrentCalls")
    reserved = number("reservedInboundCalls")
    return AccountLimits(
        max_concurrent_calls=None if concurrent is None else int(concurrent),
        max_calls_per_second=number("maxCallsPerSecond"),
        reserved_inbound_calls=0 if reserved is None else int(reserved),
    )


async def account_limits(configs: KeyValue, provider: str) -> AccountLimits:
    """The limits of ``provider``'s imported account; no limits when none is imported or it is unreadable
    (the dial itself then says what is wrong)."""
    try:
        entry = await configs.get(provider)
    except KeyNotFoundError:
        return AccountLimits()
    try:
        parsed = json.loads(entry.value or b"{}")
    except ValueError:
        return AccountLimits()
    return limits_from(parsed) if isinstance(parsed, dict) else AccountLimits()
