"""Outbound calls placed through callbridge's REST clients on each provider's simulated account: the scripted
callee, the status callbacks in the provider's own names and order (each verified and parsed by
libs/telephony's own code), the media stream opened on answer as the provider opens it, and calls ended
through the REST API or by the server closing the stream."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from callbridge.common.models.medium import Provider
from callbridge.devkit.simulators.rest import CalleeScript, OutboundCall, Outcome
from callbridge.telephony import HangUpResult, StatusOutcome
from callbridge.telephony.twilio.webhooks import verify_signature
from tests.devkit.fake_provider_server import FakeServer
from tests.devkit.outbound_helpers import (
    ANSWER_PATH,
    TO,
    dial_request,
    join_url,
    serve_callbacks,
    statuses,
    verified,
)
from tests.telephony.helpers import TWILIO_AUTH_TOKEN, ProviderApi, served_api

CALL_TIMEOUT_S = 15.0
ANSWERED = CalleeScript.parse(["*=answers_and_speaks(ring_s=0.1, hold_s=0.6)"])
ANSWERED_EVENTS = {
    Provider.TWILIO: ["initiated", "ringing", "in-progress", "stream-started", "stream-stopped", "completed"],
    Provider.TELNYX: [
        "call.initiated",
        "call.answered",
        "streaming.started",
        "streaming.stopped",
        "call.hangup",
    ],
    Provider.PLIVO: ["ringing", "StartStream", "StopStream", "Hangup"],
    Provider.EXOTEL: ["ringing", "in-progress", "completed"],
}
START_CALL_ID = {
    Provider.TWILIO: ("start", "callSid"),
    Provider.TELNYX: ("start", "call_control_id"),
    Provider.PLIVO: ("start", "callId"),
    Provider.EXOTEL: ("start", "call_sid"),
}


async def place(account: ProviderApi, fake: FakeServer, **changes: Any) -> OutboundCall:
    """Dial through callbridge's client; the call the account placed."""
    request = dial_request(fake, account.provider, **changes)
    serve_callbacks(fake, account, request)
    async with account.client() as client:
        result = await client.dial(request)
    calls = account.api.outbound.calls
    if result.provider_call_id is not None:
        return calls[result.provider_call_id]
    (call,) = (call for call in calls.values() if call.request_id == result.provider_request_id)
    return call


async def ended(call: OutboundCall) -> OutboundCall:
    async with asyncio.timeout(CALL_TIMEOUT_S):
        await call.ended.wait()
    return call


@pytest.mark.parametrize("provider", list(Provider), ids=[p.value for p in Provider])
async def test_an_answered_call_streams_and_posts_the_providers_callbacks_signed_in_order(
    fake_server: FakeServer, provider: Provider
) -> None:
    async with served_api(provider, ANSWERED) as account:
        call = await ended(await place(account, fake_server))
    assert (call.outcome, call.hung_up_by, call.error) == (Outcome.COMPLETED, "callee", None)
    assert all(record.status_code == 200 for record in call.callbacks.sent)
    found = statuses(fake_server, account)  # each verified with the imported credentials
    assert [status.status for status in found] == ANSWERED_EVENTS[provider]
    assert {status.provider_call_id for status in found} <= {call.call_id, None}
    assert found[-1].outcome is not StatusOutcome.PROGRESS
    # The stream: opened on answer to the join URL, announcing the call, the callee's tone sent whole.
    ((path, headers),) = fake_server.upgrades
    assert path.split("?")[0] == f"/calls/{provider.value}/join"
    event, field = START_CALL_ID[provider]
    start = next(message for _, message in fake_server.log.messages if message["event"] == event)
    assert start[event][field] == call.call_id
    recording = call.recording
    assert recording is not None
    assert recording.ended_by == "simulator"
    assert len(fake_server.log.of("media")) == recording.frames_sent > 0
    assert np.abs(recording.sent_audio.astype(np.int32)).max() > 1000  # it spoke: a tone, then silence
    if provider is Provider.TWILIO:  # the WebSocket upgrade is signed over the stream URL (§1.5)
        assert verify_signature(
            TWILIO_AUTH_TOKEN, join_url(fake_server, provider), {}, headers["x-twilio-signature"]
        )
    if provider is Provider.PLIVO:  # the answer URL was asked for the XML, signed as Plivo signs
        (answer,) = verified(fake_server, account, ANSWER_PATH)
        assert answer.field("Event", "CallStatus") == "StartApp"
        assert (answer.field("CallUUID"), answer.field("RequestUUID")) == (call.call_id, call.request_id)
        assert answer.field("Direction") == "outbound"
    if provider is Provider.EXOTEL:
        assert path.endswith("?sample-rate=16000")


BUSY_EVENTS = {
    Provider.TWILIO: (["initiated", "busy"], None),
    Provider.TELNYX: (["call.initiated", "call.hangup"], "user_busy"),
    Provider.PLIVO: (["Hangup"], "USER_BUSY"),
    Provider.EXOTEL: (["completed"], None),
}
FINAL = {
    # (behaviour, provider) -> the last callback's status in the provider's words, and its detail
    ("no_answer(ring_s=0.2)", Provider.TWILIO): ("no-answer", None),
    ("no_answer(ring_s=0.2)", Provider.TELNYX): ("call.hangup", "timeout"),
    ("no_answer(ring_s=0.2)", Provider.PLIVO): ("Hangup", "NO_ANSWER"),
    ("no_answer(ring_s=0.2)", Provider.EXOTEL): ("no-answer", None),
    ("fails", Provider.TWILIO): ("failed", None),
    ("fails", Provider.TELNYX): ("call.hangup", "not_found"),
    ("fails", Provider.PLIVO): ("Hangup", "UNALLOCATED_NUMBER"),
    ("fails", Provider.EXOTEL): ("failed", None),
    ("busy", Provider.TWILIO): ("busy", None),
    ("busy", Provider.TELNYX): ("call.hangup", "user_busy"),
    ("busy", Provider.PLIVO): ("Hangup", "USER_BUSY"),
    ("busy", Provider.EXOTEL): ("busy", None),
}
PLIVO_STATUS = {"busy": "busy", "no_answer(ring_s=0.2)": "no-answer", "fails": "failed"}


@pytest.mark.parametrize(("behaviour", "provider"), list(FINAL), ids=[f"{b}-{p.value}" for b, p in FINAL])
async def test_a_call_that_is_not_answered_ends_with_the_providers_status_and_no_stream(
    fake_server: FakeServer, behaviour: str, provider: Provider
) -> None:
    async with served_api(provider, CalleeScript.parse([f"{TO}={behaviour}"])) as account:
        call = await ended(await place(account, fake_server))
    expected = {"busy": Outcome.BUSY, "fails": Outcome.FAILED}.get(behaviour, Outcome.NO_ANSWER)
    assert call.outcome is expected
    assert fake_server.upgrades == []
    final = statuses(fake_server, account)[-1]
    assert (final.status, final.detail) == FINAL[(behaviour, provider)]
    assert final.outcome is not StatusOutcome.PROGRESS
    if provider is Provider.PLIVO:
        (hangup,) = (r for r in verified(fake_server, account) if r.field("Event") == "Hangup")
        assert hangup.field("CallStatus") == PLIVO_STATUS[behaviour]
    if provider is Provider.TWILIO:
        assert next(status.status for status in statuses(fake_server, account)) == "initiated"


async def test_a_silent_callee_answers_and_streams_silence(fake_server: FakeServer) -> None:
    script = CalleeScript.parse(["*=answers_silent(ring_s=0, hold_s=0.3)"])
    async with served_api(Provider.TELNYX, script) as account:
        call = await ended(await place(account, fake_server))
    assert call.outcome is Outcome.COMPLETED
    assert call.recording is not None
    assert not call.recording.sent_audio.any()
    assert len(fake_server.log.of("media")) == call.recording.frames_sent == 15  # 0.3 s of 20 ms frames


async def test_a_callee_that_answers_after_the_dials_ring_timeout_is_no_answer(
    fake_server: FakeServer,
) -> None:
    async with served_api(Provider.TWILIO, CalleeScript.parse(["*=answers_after(5)"])) as account:
        call = await ended(await place(account, fake_server, ring_timeout_s=1))
    assert call.outcome is Outcome.NO_ANSWER
    assert statuses(fake_server, account)[-1].status == "no-answer"


CANCELED = {Provider.TWILIO: ("canceled", None), Provider.TELNYX: ("call.hangup", "originator_cancel"),
            Provider.PLIVO: ("Hangup", "ORIGINATOR_CANCEL")}  # fmt: skip


@pytest.mark.parametrize("provider", list(CANCELED), ids=[p.value for p in CANCELED])
async def test_hanging_up_a_ringing_call_through_the_api_cancels_it(
    fake_server: FakeServer, provider: Provider
) -> None:
    async with served_api(provider, CalleeScript.parse(["*=answers_after(30)"])) as account:
        call = await place(account, fake_server)
        ringing = 2 if provider is Provider.TWILIO else 1  # Telnyx: call.initiated; Plivo: its ring URL
        await call.callbacks.wait_for(ringing)
        async with account.client() as client:
            assert await client.hang_up(call.call_id) is HangUpResult.HUNG_UP
            await ended(call)
            assert (await client.fetch_call(call.call_id)).status.is_over  # the call's record says so too
    assert call.outcome is Outcome.CANCELED
    assert fake_server.upgrades == []
    final = statuses(fake_server, account)[-1]
    assert (final.status, final.detail) == CANCELED[provider]


@pytest.mark.parametrize("provider", list(CANCELED), ids=[p.value for p in CANCELED])
async def test_hanging_up_an_answered_call_through_the_api_stops_its_stream(
    fake_server: FakeServer, provider: Provider
) -> None:
    media_arrived = asyncio.Event()

    async def note_media(ws: Any, log: Any) -> None:
        await log.recv_until(ws, lambda message: message["event"] == "media")
        media_arrived.set()
        await log.recv_until_closed(ws)

    fake_server.handler = note_media
    async with served_api(provider, CalleeScript.parse(["*=answers_silent(ring_s=0, hold_s=30)"])) as account:
        call = await place(account, fake_server)
        async with asyncio.timeout(CALL_TIMEOUT_S):
            await media_arrived.wait()
        async with account.client() as client:
            assert await client.hang_up(call.call_id) is HangUpResult.HUNG_UP
        await ended(call)
    assert (call.outcome, call.hung_up_by) == (Outcome.COMPLETED, "api")
    assert call.recording is not None
    assert call.recording.ended_by == "simulator"  # the provider's side: stop, then close
    assert fake_server.log.events()[-1] == "stop"
    assert call.recording.ended_at_s < 10.0


async def test_a_stream_the_server_closes_ends_a_twilio_call_at_once(fake_server: FakeServer) -> None:
    async def close_after_start(ws: Any, log: Any) -> None:
        await log.recv_until(ws, lambda message: message["event"] == "start")
        await ws.close()

    fake_server.handler = close_after_start
    async with served_api(
        Provider.TWILIO, CalleeScript.parse(["*=answers_silent(ring_s=0, hold_s=30)"])
    ) as account:
        call = await ended(await place(account, fake_server))
    assert (call.outcome, call.hung_up_by) == (Outcome.COMPLETED, "stream")
    assert call.recording is not None
    assert call.recording.ended_by == "server"
    assert [status.status for status in statuses(fake_server, account)][-2:] == [
        "stream-stopped",
        "completed",
    ]


LOST_STREAM_EVENTS = {
    Provider.TWILIO: ("stream-error", "completed"),
    Provider.TELNYX: ("streaming.failed",),
    Provider.PLIVO: ("DroppedStream",),
}


@pytest.mark.parametrize("provider", list(LOST_STREAM_EVENTS), ids=lambda p: p.value)
async def test_a_stream_whose_connection_is_lost_is_reported_as_a_stream_failure(
    fake_server: FakeServer, provider: Provider
) -> None:
    """A media server that dies mid-call (its socket gone, no close frame) is a stream error at the
    provider (Twilio ``stream-error``, Telnyx ``streaming.failed``, Plivo ``DroppedStream``), not the
    orderly stop of a server that closed the stream."""

    async def die_after_start(ws: Any, log: Any) -> None:
        await log.recv_until(ws, lambda message: message["event"] == "start")
        ws.transport.abort()  # what the kernel does for a killed process: no close frame

    fake_server.handler = die_after_start
    script = CalleeScript.parse(["*=answers_silent(ring_s=0, hold_s=2)"])
    async with served_api(provider, script) as account:
        call = await ended(await place(account, fake_server))  # its callbacks are sent by then
    found = statuses(fake_server, account)
    assert call.recording is not None
    assert call.recording.ended_by == "connection_lost"
    names = [status.status for status in found]
    expected = LOST_STREAM_EVENTS[provider]
    assert tuple(name for name in names if name in expected)[: len(expected)] == expected, names
    failed = next(s for s in found if s.status == expected[0])
    assert failed.outcome is StatusOutcome.FAILED
    assert failed.detail


async def test_a_telnyx_call_whose_stream_the_server_closes_stays_up_until_hung_up(
    fake_server: FakeServer,
) -> None:
    async def close_after_start(ws: Any, log: Any) -> None:
        await log.recv_until(ws, lambda message: message["event"] == "start")
        await ws.close()

    fake_server.handler = close_after_start
    async with served_api(
        Provider.TELNYX, CalleeScript.parse(["*=answers_silent(ring_s=0, hold_s=30)"])
    ) as account:
        call = await place(account, fake_server)
        records = await call.callbacks.wait_for(4)  # initiated, answered, streaming started and stopped
        assert records[-1].event == "streaming.stopped"
        assert not call.ended.is_set()
        async with account.client() as client:
            assert (await client.fetch_call(call.call_id)).status.value == "in_progress"
            assert await client.hang_up(call.call_id) is HangUpResult.HUNG_UP
        await ended(call)
    final = statuses(fake_server, account)[-1]
    assert (final.status, final.detail) == ("call.hangup", "normal_clearing")
    assert final.fields["hangup_source"] == "caller"


async def test_a_plivo_answer_url_that_fails_ends_the_answered_call(fake_server: FakeServer) -> None:
    async with served_api(Provider.PLIVO, ANSWERED) as account:
        request = dial_request(fake_server, Provider.PLIVO)
        fake_server.answer = lambda http: (
            (500, "text/plain", "down") if http.path == ANSWER_PATH else (200, "text/plain", "")
        )
        async with account.client() as client:
            result = await client.dial(request)
        (call,) = account.api.outbound.calls.values()
        await ended(call)
    assert result.provider_request_id == call.request_id
    assert call.error is not None
    assert "answer_url answered HTTP 500" in call.error
    assert fake_server.upgrades == []
    assert statuses(fake_server, account)[-1].status == "Hangup"


async def test_twiml_twilio_cannot_run_ends_the_answered_call_with_its_error(fake_server: FakeServer) -> None:
    async with served_api(Provider.TWILIO, ANSWERED) as account:
        call = await ended(await place(account, fake_server, join_url="wss://media.example.com/x?token=1"))
    assert call.error is not None
    assert "12100" in call.error
    assert "query string" in call.error
    assert call.outcome is Outcome.COMPLETED
    assert fake_server.upgrades == []
    assert [status.status for status in statuses(fake_server, account)][-1] == "completed"
