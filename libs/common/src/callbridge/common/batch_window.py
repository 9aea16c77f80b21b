"""Whether a batch's window is long enough for its calls at the capacity available (Ultravox answers a
window too short with 400 and its estimate of the minimum window, reference §4.1).

The estimate: each provider account places its calls at most at ``outboundCap / estimatedCallDuration``
calls per second (its lines, less those kept for inbound calls, each busy for a call's length) and at most at
``maxCallsPerSecond``; the batch's throttle bounds all its calls together. Accounts dial in parallel. The
time needed must fit in the window's open time: the seconds inside the calling hours, in the batch's time
zone (callees in other zones shift their hours; the estimate does not follow each of them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from callbridge.common.calling_hours import CallingHours, open_seconds
from callbridge.common.capacity import AccountLimits
from callbridge.common.throttles import ThrottleRule

MAX_SEARCH = timedelta(days=400)


@dataclass(frozen=True, slots=True)
class WindowShortfall:
    needed_s: float
    """Open seconds the batch needs."""
    available_s: float
    """Open seconds the window gives."""
    minimum_end: datetime | None
    """The earliest windowEnd that would do; None when none within 400 days would."""


def needed_seconds(
    dialed: Mapping[str, int],
    limits: Mapping[str, AccountLimits],
    total: int,
    rules: list[ThrottleRule],
    call_duration: timedelta,
) -> float:
    """Seconds of open window the batch needs: ``dialed`` counts the calls placed through each account."""
    needed = 0.0
    for account, count in dialed.items():
        account_limits = limits.get(account, AccountLimits())
        rates = []
        cap = account_limits.outbound_cap
        if cap is not None:
            rates.append(cap / max(call_duration.total_seconds(), 0.001) if cap else 0.0)
        if account_limits.max_calls_per_second is not None:
            rates.append(account_limits.max_calls_per_second)
        if rates:
            rate = min(rates)
            needed = max(needed, math.inf if rate <= 0 else count / rate)
    if rules:
        rate = min(rule.max_calls / rule.window_seconds for rule in rules)
        needed = max(needed, total / rate)
    return needed


def check_window(
    needed_s: float,
    start: datetime,
    end: datetime,
    *,
    zone: ZoneInfo,
    hours: CallingHours | None,
) -> WindowShortfall | None:
    """None when ``[start, end)`` has ``needed_s`` open seconds; else what it lacks and the end that would
    do."""
    available = open_seconds(start, end, zone=zone, hours=hours)
    if available >= needed_s:
        return None
    if math.isinf(needed_s):
        return WindowShortfall(needed_s, available, None)
    low, high = end, start + MAX_SEARCH
    if open_seconds(start, high, zone=zone, hours=hours) < needed_s:
        return WindowShortfall(needed_s, available, None)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if open_seconds(start, middle, zone=zone, hours=hours) >= needed_s:
            high = middle
        else:
            low = middle
    return WindowShortfall(needed_s, available, high.replace(microsecond=0) + timedelta(seconds=1))
