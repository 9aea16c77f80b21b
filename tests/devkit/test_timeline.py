"""The printed call timeline says only what the events tell: a barge-in is reported against the cut turn's
full length when that is known, and otherwise against what callbridge had sent, named as such."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from callbridge.common.events import AgentTranscript, CallEnded, CallEvent, PlayoutTruncated
from callbridge.common.models.call import EndReason
from callbridge.devkit.timeline import describe, print_timeline

CALL_ID = uuid4()
START = datetime(2026, 1, 1, tzinfo=UTC)


def truncation(turn: int = 0) -> PlayoutTruncated:
    return PlayoutTruncated(
        call_id=CALL_ID,
        occurred_at=START + timedelta(seconds=3),
        turn=turn,
        sent_ms=3500,
        acknowledged_ms=3300,
        heard_ms=3397,
        dropped_frames=200,
    )


def said(text: str, at_s: float) -> AgentTranscript:
    return AgentTranscript(
        call_id=CALL_ID, occurred_at=START + timedelta(seconds=at_s), role="agent", text=text, final=True
    )


def test_a_barge_in_of_unknown_length_says_what_was_sent_not_a_length() -> None:
    assert describe(truncation()) == "barge-in: turn 0 cut after 3397 ms heard (3500 ms sent)"


def test_a_barge_in_of_known_length_is_reported_against_it() -> None:
    assert describe(truncation(), turn_ms=7588) == "barge-in: turn 0 cut after 3397 of 7588 ms heard"


async def test_the_timeline_reports_the_cut_against_the_last_thing_the_agent_said() -> None:
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    events: list[CallEvent] = [
        said("Hello there.", 0.0),
        truncation(0),
        said("You pressed 5.", 3.0),
        truncation(1),
        CallEnded(call_id=CALL_ID, occurred_at=START + timedelta(seconds=4), end_reason=EndReason.HANGUP),
    ]
    for event in events:
        queue.put_nowait(event)
    lines: list[str] = []

    await print_timeline(queue, write=lines.append, utterance_ms={"Hello there.": 7588})

    assert [line.split("s  ", 1)[1] for line in lines][1:4] == [
        "barge-in: turn 0 cut after 3397 of 7588 ms heard",
        "agent says: You pressed 5.",
        "barge-in: turn 1 cut after 3397 ms heard (3500 ms sent)",  # its length is not known
    ]
