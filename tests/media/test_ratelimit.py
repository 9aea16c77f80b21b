"""The per-call limit on reports: a burst, then one per interval, each saying how many it stands for."""

from __future__ import annotations

import logging
from uuid import uuid4

import pytest

from callbridge.media.ratelimit import CallLog, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_out_then_one_per_interval_carrying_what_was_held_back() -> None:
    clock = Clock()
    limiter = RateLimiter(clock, burst=3, interval_s=10.0)
    assert [limiter.allow() for _ in range(3)] == [0, 0, 0]
    assert [limiter.allow() for _ in range(100)] == [None] * 100
    clock.now = 5.0
    assert limiter.allow() is None  # half a token
    clock.now = 10.0
    assert limiter.allow() == 101  # the 101 held back since the last report go with this one
    assert limiter.allow() is None
    assert limiter.held_back == 1
    assert limiter.total_held_back == 102
    clock.now = 1000.0  # a long quiet spell refills the burst, no more
    assert [limiter.allow() for _ in range(4)] == [1, 0, 0, None]


def test_call_log_limits_warnings_across_modules_and_says_how_many_it_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    call_id = uuid4()
    log = CallLog(logging.getLogger("callbridge.media.session"), call_id, RateLimiter(clock, burst=2))
    child = log.child(logging.getLogger("callbridge.media.providers.telnyx"))
    with caplog.at_level(logging.INFO, logger="callbridge.media"):
        for n in range(50):
            (log if n % 2 else child).warning("bad frame %d", n)
        log.info("joined")  # info lines are not limited
        clock.now = 10.0
        log.warning("bad frame %d", 50)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        f"call {call_id}: bad frame 0",
        f"call {call_id}: bad frame 1",
        f"call {call_id}: joined",
        f"call {call_id}: bad frame 50 (48 more like it held back)",
    ]
    assert {r.name for r in caplog.records} == {
        "callbridge.media.session",
        "callbridge.media.providers.telnyx",
    }
    assert all(getattr(r, "call_id", None) == str(call_id) for r in caplog.records)
    assert log.held_back == 48
