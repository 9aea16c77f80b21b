"""Outbound calls placed by callbridge's dialer, end to end: created through the API with
``medium.<provider>.outgoing``, dialed through each provider's simulated account, answered (or not) by a
scripted callee, streamed to the echo agent, and ended with the reason the provider gave."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import nats
import pytest

from callbridge.common import subjects
from callbridge.common.dialing import DialCall
from callbridge.common.events import CallEnded, CallJoined, DialStatusChanged, ProviderCallHungUp
from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import sinad_db
from callbridge.devkit.simulators.audio_codec import ByteOrder
from callbridge.devkit.simulators.rest import CalleeScript, Outcome
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.stack import RunningStack
from tests.e2e.helpers import audio_sent_back, events_of, get_call
from tests.e2e.outbound import dial_step, dialer_metric, place_call, stack_dialing

TONE_HZ = 1000.0
SPEAKS = f"answers_and_speaks(ring_s=0.2, tone_hz={TONE_HZ:g}, speech_s=1.5, hold_s=2.5)"
TO = "+15550001111"
FROM = "+15550002222"
MEDIUM: dict[Provider, dict[str, Any]] = {
    Provider.TWILIO: {},
    Provider.TELNYX: {"codec": "L16", "sampleRate": 16000},
    Provider.PLIVO: {"codec": "L16", "sampleRate": 16000},
    Provider.EXOTEL: {"sampleRate": 16000},
}
MIN_SINAD_DB = {Provider.TWILIO: 25.0, Provider.TELNYX: 50.0, Provider.PLIVO: 50.0, Provider.EXOTEL: 50.0}
CALL_TIMEOUT_S = 30.0


def outgoing_call(provider: Provider, *, to: str = TO, **extra: Any) -> dict[str, Any]:
    medium = {**MEDIUM[provider], "outgoing": {"to": to, "from": FROM}}
    return {"medium": {provider.value: medium}, "agentBackend": {"echo": {"sampleRate": 16000}}, **extra}


def account_for(provider: Provider, *rules: str) -> Any:
    return new_account(provider, script=CalleeScript.parse(list(rules)), allow_insecure_ws=True)


@pytest.mark.parametrize("provider", list(Provider), ids=[p.value for p in Provider])
async def test_the_dialer_places_the_call_and_the_callee_hears_the_agent(
    nats_url: str, clean_jetstream: None, provider: Provider
) -> None:
    account = account_for(provider, f"*={SPEAKS}")
    async with stack_dialing(nats_url, provider, account) as stack:
        response = await place_call(stack, outgoing_call(provider))
        assert response.status_code == 201, response.text
        call_id = response.json()["callId"]
        events = await events_of(nats_url, call_id, timeout_s=CALL_TIMEOUT_S)
        record = await get_call(stack, call_id)
    (placed,) = account.outbound.calls.values()
    assert TO in (placed.to, placed.from_)  # Exotel dials its From: the callee
    assert (placed.outcome, placed.error) == (Outcome.COMPLETED, None)
    recording = placed.recording
    assert recording is not None
    byte_order: ByteOrder = "big" if provider is Provider.TELNYX else "little"
    echoed = audio_sent_back(recording, byte_order=byte_order)
    rate = recording.heard_rate_hz
    assert len(echoed) > rate  # more than a second of the callee's own voice came back from the agent
    assert sinad_db(echoed[rate // 10 : rate], TONE_HZ, rate) >= MIN_SINAD_DB[provider]
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup"
    steps = [step["status"] for step in record["dialStatuses"]]
    assert steps[0] == "dialing"
    assert "answered" in steps
    assert len(steps) == len(set(steps))
    progress = [event.status for event in events if isinstance(event, DialStatusChanged)]
    assert progress[0] == "dialing"
    assert "answered" in progress
    assert record["direction"] == "outbound"
    assert record["endReason"] == "hangup"
    assert record["providerDetails"]["callId"]


@pytest.mark.parametrize(
    ("behaviour", "end_reason", "detail"),
    [
        ("busy", "busy", "busy"),
        ("no_answer(ring_s=0.5)", "no_answer", ""),
        ("fails", "dial_failed", ""),
        ("rate_limited(0.1)", "dial_failed", "kept refusing"),
    ],
)
@pytest.mark.parametrize("provider", [Provider.TWILIO, Provider.TELNYX], ids=["twilio", "telnyx"])
async def test_a_call_that_never_connects_ends_with_the_providers_reason(
    nats_url: str, clean_jetstream: None, provider: Provider, behaviour: str, end_reason: str, detail: str
) -> None:
    account = account_for(provider, f"*={behaviour}")
    async with stack_dialing(nats_url, provider, account) as stack:
        response = await place_call(stack, outgoing_call(provider))
        assert response.status_code == 201, response.text
        call_id = response.json()["callId"]
        events = await events_of(nats_url, call_id, timeout_s=CALL_TIMEOUT_S)
        record = await get_call(stack, call_id)
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == end_reason, ended
    assert record["endReason"] == end_reason
    assert detail in (record["endDetail"] or "")
    assert "answered" not in [step["status"] for step in record["dialStatuses"]]
    if behaviour.startswith("rate_limited"):
        assert account.outbound.calls == {}  # refused each time: nothing placed
        assert "429" in record["endDetail"] or "rate" in record["endDetail"].lower()


async def test_a_callee_that_answers_after_ringing_is_connected(nats_url: str, clean_jetstream: None) -> None:
    provider = Provider.PLIVO
    account = account_for(provider, f"*=answers_and_speaks(ring_s=1.5, hold_s=1.5, tone_hz={TONE_HZ:g})")
    async with stack_dialing(nats_url, provider, account) as stack:
        response = await place_call(stack, outgoing_call(provider))
        call_id = response.json()["callId"]
        events = await events_of(nats_url, call_id, timeout_s=CALL_TIMEOUT_S)
        record = await get_call(stack, call_id)
    assert isinstance(events[-1], CallEnded)
    assert record["endReason"] == "hangup"
    steps = [step["status"] for step in record["dialStatuses"]]
    assert steps.index("ringing") < steps.index("answered")


async def test_an_agent_call_with_an_outgoing_medium_is_placed(nats_url: str, clean_jetstream: None) -> None:
    provider = Provider.TWILIO
    account = account_for(provider, f"*={SPEAKS}")
    async with stack_dialing(nats_url, provider, account) as stack:
        agent = await place_call(
            stack, {"name": "caller", "callTemplate": {"agentBackend": {"echo": {}}}}, path="/api/agents"
        )
        agent_id = agent.json()["agentId"]
        body = {"medium": {"twilio": {"outgoing": {"to": TO, "from": FROM}}}}
        response = await place_call(stack, body, path=f"/api/agents/{agent_id}/calls")
        assert response.status_code == 201, response.text
        call_id = response.json()["callId"]
        events = await events_of(nats_url, call_id, timeout_s=CALL_TIMEOUT_S)
    assert isinstance(events[-1], CallEnded)
    assert events[-1].end_reason == "hangup"
    (placed,) = account.outbound.calls.values()
    assert placed.outcome is Outcome.COMPLETED


async def test_hanging_up_a_ringing_call_cancels_it_at_the_provider(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.TWILIO
    account = account_for(provider, "*=no_answer(ring_s=20)")
    async with stack_dialing(nats_url, provider, account) as stack:
        response = await place_call(stack, outgoing_call(provider))
        call_id = response.json()["callId"]
        await dial_step(nats_url, call_id, "ringing")
        (placed,) = account.outbound.calls.values()
        hung_up = await place_call(stack, {}, path=f"/api/calls/{call_id}/hang_up")
        assert hung_up.status_code == 202, hung_up.text
        assert hung_up.json()["ended"] is True
        async with asyncio.timeout(CALL_TIMEOUT_S):
            await placed.ended.wait()
        record = await get_call(stack, call_id)
    assert placed.outcome is Outcome.CANCELED
    assert record["endReason"] == "canceled"


async def test_a_redelivered_dial_request_does_not_dial_again(nats_url: str, clean_jetstream: None) -> None:
    provider = Provider.TWILIO
    account = account_for(provider, f"*={SPEAKS}")
    async with stack_dialing(nats_url, provider, account) as stack:
        response = await place_call(stack, outgoing_call(provider))
        call_id = response.json()["callId"]
        await events_of(nats_url, call_id, until=DialStatusChanged, timeout_s=CALL_TIMEOUT_S)
        before = await claimed_again(stack)
        connection = await nats.connect(nats_url)
        try:  # the same request again, past JetStream's de-duplication (as a redelivery would be)
            request = DialCall(call_id=UUID(call_id), attempt=1)
            await connection.jetstream().publish(
                subjects.DIAL_SUBJECT, request.to_json(), stream=subjects.DIAL_STREAM
            )
        finally:
            await connection.drain()
        async with asyncio.timeout(CALL_TIMEOUT_S):
            # The dialer's count is read over HTTP: there is nothing to await but the next reading.
            while await claimed_again(stack) == before:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await events_of(nats_url, call_id, timeout_s=CALL_TIMEOUT_S)
    assert len(account.outbound.calls) == 1


async def claimed_again(stack: RunningStack) -> float:
    return await dialer_metric(stack, "callbridge_dialer_requests_total", outcome="already_claimed")


async def wait_for_metric_above(stack: RunningStack, before: float, name: str, **labels: str) -> None:
    async with asyncio.timeout(CALL_TIMEOUT_S):
        # The dialer's count is read over HTTP: there is nothing to await but the next reading.
        while await dialer_metric(stack, name, **labels) <= before:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_dial_the_provider_did_not_answer_is_not_sent_again(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLBRIDGE_PROVIDER_API_TIMEOUT_S", "0.5")
    provider = Provider.TWILIO
    account = account_for(provider, f"*={SPEAKS}")
    async with stack_dialing(nats_url, provider, account) as stack:
        metric = "callbridge_dialer_requests_total"
        before = await dialer_metric(stack, metric, outcome="ambiguous")
        with account.stalled():  # Twilio does not answer: whether it placed the call is unknown
            response = await place_call(stack, outgoing_call(provider, joinTimeout="3s"))
            call_id = response.json()["callId"]
            await wait_for_metric_above(stack, before, metric, outcome="ambiguous")
        events = await events_of(nats_url, call_id, timeout_s=CALL_TIMEOUT_S)
        record = await get_call(stack, call_id)
    # The stalled request was dropped when the dialer gave up on it; a dial sent again would be here.
    assert [request for request in account.requests if request.method == "POST"] == []
    assert account.outbound.calls == {}
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "unjoined"  # the join deadline decided, as for a dial that was lost
    assert [step["status"] for step in record["dialStatuses"]] == ["dialing"]


async def test_a_dial_the_provider_dedupes_is_sent_again_when_its_answer_is_lost(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLBRIDGE_PROVIDER_API_TIMEOUT_S", "1")
    provider = Provider.TELNYX
    account = account_for(provider, f"*={SPEAKS}")
    async with stack_dialing(nats_url, provider, account) as stack:
        metric = "callbridge_dialer_provider_refusals_total"
        before = await dialer_metric(stack, metric, provider="telnyx", kind="unavailable")
        with account.stalled():
            response = await place_call(stack, outgoing_call(provider))
            call_id = response.json()["callId"]
            await wait_for_metric_above(stack, before, metric, provider="telnyx", kind="unavailable")
        events = await events_of(nats_url, call_id, timeout_s=CALL_TIMEOUT_S)
    # The first try timed out (its request dropped); the second, with the same command_id, placed it.
    assert len(account.outbound.calls) == 1
    assert isinstance(events[-1], CallEnded)
    assert events[-1].end_reason == "hangup"


async def test_a_ring_timeout_in_additional_params_is_the_one_sent(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.TWILIO
    account = account_for(provider, f"*={SPEAKS}")
    async with stack_dialing(nats_url, provider, account) as stack:
        body = outgoing_call(provider)
        body["medium"]["twilio"]["outgoing"]["additionalParams"] = {"timeout": 7, "Record": True}
        response = await place_call(stack, body)
        assert response.status_code == 201, response.text
        events = await events_of(nats_url, response.json()["callId"], timeout_s=CALL_TIMEOUT_S)
    (placed,) = account.outbound.calls.values()
    assert placed.params["Timeout"] == "7"  # the caller's, in Twilio's spelling; not the join deadline's
    assert placed.params["Record"] == "true"
    assert isinstance(events[-1], CallEnded)


async def test_a_call_hung_up_while_it_is_dialed_is_hung_up_at_the_provider(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.TWILIO
    account = account_for(provider, "*=no_answer(ring_s=20)")
    async with stack_dialing(nats_url, provider, account) as stack:
        with account.stalled():  # the dial is in flight while the call is hung up
            response = await place_call(stack, outgoing_call(provider))
            call_id = response.json()["callId"]
            async with asyncio.timeout(CALL_TIMEOUT_S):
                # The claim is on the record only (its event comes once the dial returns): read it.
                while not await dial_claimed(stack, call_id):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            hung_up = await place_call(stack, {}, path=f"/api/calls/{call_id}/hang_up")
            assert hung_up.json()["ended"] is True
        # The dialer asks the transfer service to hang it up once the dial returns; the provider's first
        # status callback may have made webhooks hang it up first (then it had ended already).
        hang_up = await events_of(nats_url, call_id, until=ProviderCallHungUp, timeout_s=CALL_TIMEOUT_S)
        record = await get_call(stack, call_id)
    (placed,) = account.outbound.calls.values()
    async with asyncio.timeout(CALL_TIMEOUT_S):
        await placed.ended.wait()
    assert placed.outcome is Outcome.CANCELED
    assert record["endReason"] == "canceled"
    assert isinstance(hang_up[-1], ProviderCallHungUp)
    assert hang_up[-1].result in ("hung_up", "already_ended")


async def dial_claimed(stack: RunningStack, call_id: str) -> bool:
    record = await get_call(stack, call_id)
    return any(step["status"] == "dialing" for step in record["dialStatuses"])


async def test_a_telnyx_call_that_callbridge_ends_is_hung_up_at_telnyx(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.TELNYX  # Call Control keeps a call up when its stream closes
    account = account_for(provider, "*=answers_silent(ring_s=0.2, hold_s=30)")
    async with stack_dialing(nats_url, provider, account) as stack:
        response = await place_call(stack, outgoing_call(provider))
        call_id = response.json()["callId"]
        await events_of(nats_url, call_id, until=CallJoined, timeout_s=CALL_TIMEOUT_S)
        hung_up = await place_call(stack, {}, path=f"/api/calls/{call_id}/hang_up")
        assert hung_up.status_code == 202, hung_up.text
        (placed,) = account.outbound.calls.values()
        async with asyncio.timeout(CALL_TIMEOUT_S):
            await placed.ended.wait()
        record = await get_call(stack, call_id)
    assert placed.hung_up_by == "api"
    assert record["endReason"] == "hangup"
