"""Calling hours in the callee's time zone: openings, windows, daylight saving, overnight ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callbridge.common.calling_hours import (
    is_open,
    next_opening,
    open_seconds,
    parse_hours,
)

NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
WEEKDAYS_9_TO_5 = parse_hours(["MON", "TUE", "WED", "THU", "FRI"], "09:00", "17:00")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_a_call_waits_for_the_callees_morning() -> None:
    # Monday 2026-11-30 03:00 UTC is Sunday 22:00 in New York: the next opening is Monday 09:00 EST.
    opening = next_opening(utc(2026, 11, 30, 3), zone=NEW_YORK, hours=WEEKDAYS_9_TO_5)
    assert opening == utc(2026, 11, 30, 14)
    # The same moment is Monday 08:30 in Kolkata: opens at 09:00 IST, 03:30 UTC.
    assert next_opening(utc(2026, 11, 30, 3), zone=KOLKATA, hours=WEEKDAYS_9_TO_5) == utc(2026, 11, 30, 3, 30)
    assert is_open(utc(2026, 11, 30, 15), zone=NEW_YORK, hours=WEEKDAYS_9_TO_5)
    assert not is_open(utc(2026, 11, 30, 22), zone=NEW_YORK, hours=WEEKDAYS_9_TO_5)  # 17:00 EST: closed


def test_friday_evening_waits_for_monday() -> None:
    friday_evening = utc(2026, 12, 4, 23)  # 18:00 EST
    assert next_opening(friday_evening, zone=NEW_YORK, hours=WEEKDAYS_9_TO_5) == utc(2026, 12, 7, 14)


def test_the_batch_window_bounds_the_opening() -> None:
    now = utc(2026, 11, 30, 3)
    assert next_opening(now, zone=NEW_YORK, hours=None, window_start=utc(2026, 11, 30, 5)) == utc(
        2026, 11, 30, 5
    )
    # The window closes before New York's morning: no opening.
    assert next_opening(now, zone=NEW_YORK, hours=WEEKDAYS_9_TO_5, window_end=utc(2026, 11, 30, 12)) is None
    assert next_opening(now, zone=NEW_YORK, hours=None, window_end=now) is None


def test_daylight_saving_moves_the_utc_opening() -> None:
    # New York: EDT (UTC-4) until 2026-11-01, EST (UTC-5) after.
    before = next_opening(utc(2026, 10, 30, 0), zone=NEW_YORK, hours=WEEKDAYS_9_TO_5)
    after = next_opening(utc(2026, 11, 2, 0), zone=NEW_YORK, hours=WEEKDAYS_9_TO_5)
    assert before == utc(2026, 10, 30, 13)
    assert after == utc(2026, 11, 2, 14)


def test_a_skipped_local_time_opens_when_the_clocks_have_moved() -> None:
    # 2026-03-08 02:00 EST jumps to 03:00 EDT: an opening at 02:30 is read as 03:30 EDT (07:30 UTC).
    early = parse_hours(["SUN"], "02:30", "04:00")
    assert next_opening(utc(2026, 3, 8, 5), zone=NEW_YORK, hours=early) == utc(2026, 3, 8, 7, 30)


def test_an_overnight_range_runs_past_midnight() -> None:
    nights = parse_hours(["SAT"], "22:00", "02:00")
    saturday_night = utc(2026, 12, 6, 5)  # Sunday 00:00 EST, in Saturday's range
    assert is_open(saturday_night, zone=NEW_YORK, hours=nights)
    assert open_seconds(utc(2026, 12, 5, 0), utc(2026, 12, 8, 0), zone=NEW_YORK, hours=nights) == 4 * 3600


def test_open_seconds_counts_only_calling_hours() -> None:
    week = open_seconds(utc(2026, 11, 30, 5), utc(2026, 12, 7, 5), zone=NEW_YORK, hours=WEEKDAYS_9_TO_5)
    assert week == 5 * 8 * 3600
    assert (
        open_seconds(utc(2026, 11, 30), utc(2026, 11, 30) - timedelta(hours=1), zone=NEW_YORK, hours=None)
        == 0
    )


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        (["MON", "FUNDAY"], "09:00", "17:00", "unknown day"),
        (["MON"], "9am", "17:00", "not a time of day"),
        (["MON"], "09:00+02:00", "17:00", "without an offset"),
        ([], "09:00", "17:00", "at least one day"),
        (["MON"], "09:00", "09:00", "differ"),
    ],
)
def test_bad_calling_hours_say_why(days: list[str], start: str, end: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(days, start, end)
