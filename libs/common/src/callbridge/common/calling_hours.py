"""When a scheduled call may be placed: inside its batch's window and inside the callee's local calling
hours (days of the week and a time of day range, in the callee's time zone, daylight saving included).

Pure functions of the time: the scheduler asks ``next_opening`` for the earliest moment a call may be
placed and ``is_open`` before it places one; the API asks ``open_seconds`` to estimate whether a window is
long enough for a batch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS_AHEAD = 400
"""How far ``next_opening`` looks for an opening before it says there is none."""


class Weekday(enum.IntEnum):
    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6


@dataclass(frozen=True, slots=True)
class CallingHours:
    """The local times at which calls may be placed: on ``days``, from ``start`` up to (not including)
    ``end``. ``end`` before ``start`` means the range runs past midnight into the next day."""

    days: frozenset[Weekday]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("calling hours need at least one day")
        if self.start == self.end:
            raise ValueError("calling hours need a start and an end that differ")

    def intervals_on(self, day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The UTC intervals of the range that starts on local ``day`` (none if the day is not allowed).

        A local time that does not exist (the hour skipped when clocks go forward) moves forward by the
        gap, as the clocks did (02:30 reads as 03:30); one that exists twice (clocks going back) is its
        first occurrence."""
        if Weekday(day.weekday()) not in self.days:
            return []
        begin = _utc(datetime.combine(day, self.start), zone)
        end_day = day if self.end > self.start else day + timedelta(days=1)
        finish = _utc(datetime.combine(end_day, self.end), zone)
        return [(begin, finish)] if finish > begin else []


def _utc(local: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: the first of two occurrences; for a skipped time, the offset before the change, which lands
    # the gap's length later on the new clock (PEP 495).
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_opening(
    now: datetime,
    *,
    zone: ZoneInfo,
    hours: CallingHours | None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> datetime | None:
    """The earliest moment at or after ``now`` (and ``window_start``) when a call may be placed, before
    ``window_end``; None if there is none."""
    earliest = max(now, window_start) if window_start is not None else now
    if window_end is not None and earliest >= window_end:
        return None
    if hours is None:
        return earliest
    local_day = earliest.astimezone(zone).date() - timedelta(days=1)  # a range from yesterday may run on
    for offset in range(MAX_DAYS_AHEAD):
        for begin, finish in hours.intervals_on(local_day + timedelta(days=offset), zone):
            if finish <= earliest:
                continue
            opening = max(begin, earliest)
            if window_end is not None and opening >= window_end:
                return None
            return opening
    return None


def is_open(now: datetime, *, zone: ZoneInfo, hours: CallingHours | None) -> bool:
    return next_opening(now, zone=zone, hours=hours) == now


def open_seconds(start: datetime, end: datetime, *, zone: ZoneInfo, hours: CallingHours | None) -> float:
    """How many seconds between ``start`` and ``end`` fall inside the calling hours."""
    if end <= start:
        return 0.0
    if hours is None:
        return (end - start).total_seconds()
    total = 0.0
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        for begin, finish in hours.intervals_on(day, zone):
            overlap = min(finish, end) - max(begin, start)
            total += max(0.0, overlap.total_seconds())
        day += timedelta(days=1)
    return total


def parse_hours(days: list[str], start: str, end: str) -> CallingHours:
    """``["MON", ...]`` and ``"09:00"``/``"17:30"`` as an API gives them; ValueError with the reason."""
    try:
        chosen = frozenset(Weekday[day.upper()] for day in days)
    except KeyError as exc:
        raise ValueError(f"unknown day {exc.args[0]!r}: use MON, TUE, WED, THU, FRI, SAT, SUN") from None
    return CallingHours(chosen, _clock_time(start), _clock_time(end))


def _clock_time(text: str) -> time:
    try:
        parsed = time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day such as '09:00'") from None
    if parsed.tzinfo is not None:
        raise ValueError(f"{text!r}: calling hours are local to the callee, without an offset")
    return parsed
