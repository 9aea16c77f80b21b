"""``GET /api/calls/{callId}/events`` end to end: a real call's events read back from the events stream, a
page at a time, in Ultravox's CallEvent shape, and nothing of another call."""

from __future__ import annotations

from typing import Any

import httpx

from callbridge.common.events import CallEnded
from callbridge.devkit.signals import tone
from callbridge.devkit.stack import RunningStack
from tests.e2e.helpers import events_of, twilio_for

RATE_HZ = 8000


async def _get(stack: RunningStack, path: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        return await api.get(path, params=params)


async def _all_pages(stack: RunningStack, call_id: str, page_size: int) -> tuple[list[dict[str, Any]], int]:
    results: list[dict[str, Any]] = []
    pages = 0
    response = await _get(stack, f"/api/calls/{call_id}/events", pageSize=page_size)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["results"]) <= page_size
        assert (page["previous"] is None) == (pages == 0)
        results.extend(page["results"])
        pages += 1
        if page["next"] is None:
            return results, pages
        async with httpx.AsyncClient(headers={"X-API-Key": stack.api_key}) as api:
            response = await api.get(page["next"])


async def test_a_calls_events_are_listed_page_by_page_in_the_order_they_happened(
    stack: RunningStack, nats_url: str
) -> None:
    simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {"sampleRate": 16000}}})
    calls = []
    for digit in ("5", "7"):  # two calls: each lists only its own events
        call = await simulator.place_call(tone(1000.0, 1.0, RATE_HZ, -10.0), dtmf=[(0.3, digit)], tail_s=0.2)
        calls.append(call.answer.parameters["callId"])
    call_id = calls[0]
    published = await events_of(nats_url, call_id, until=CallEnded)

    listed, pages = await _all_pages(stack, call_id, page_size=2)
    assert [event["type"] for event in listed] == [event.EVENT for event in published]
    assert pages == (len(published) + 1) // 2
    assert [event["extras"]["eventId"] for event in listed] == [str(event.event_id) for event in published]
    assert {event["callId"] for event in listed} == {call_id}
    assert {event["callStageId"] for event in listed} == {call_id}
    first = listed[0]
    assert first["type"] == "created"
    assert first["severity"] == "info"
    assert first["callTimestamp"].endswith("s")
    assert float(first["callTimestamp"][:-1]) >= 0
    texts = [event["text"] for event in listed]
    assert "caller pressed 5" in texts
    assert texts[-1].startswith("ended: hangup")
    seconds = [float(event["callTimestamp"][:-1]) for event in listed]
    assert seconds == sorted(seconds)

    whole = (await _get(stack, f"/api/calls/{call_id}/events")).json()
    assert whole["total"] == len(published) == len(whole["results"])
    assert whole["next"] is None
    assert whole["previous"] is None
    other = (await _get(stack, f"/api/calls/{calls[1]}/events")).json()
    assert "caller pressed 7" in [event["text"] for event in other["results"]]
    assert "caller pressed 5" not in [event["text"] for event in other["results"]]


async def test_events_of_an_unknown_call_are_404_and_a_bad_cursor_is_422(stack: RunningStack) -> None:
    missing = await _get(stack, "/api/calls/00000000-0000-4000-8000-000000000000/events")
    assert missing.status_code == 404, missing.text
    simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {"sampleRate": 16000}}})
    call = await simulator.place_call(tone(1000.0, 0.3, RATE_HZ, -10.0), tail_s=0.1)
    call_id = call.answer.parameters["callId"]
    for cursor in ("not-a-cursor", "bzox", "ZTotMQ", "ZTo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"):
        response = await _get(stack, f"/api/calls/{call_id}/events", cursor=cursor)
        assert response.status_code == 422, (cursor, response.text)
        assert "cursor" in response.json()["detail"]
