"""Cold transfers and out-of-band DTMF end to end: an outbound call placed by the whole stack through a
simulated provider account, the API (or the agent's coldTransfer tool) asking for the transfer, the
transfer service carrying it out against the simulated REST API, the stream stopped as the provider stops it,
and the call ended as ``transferred`` without the provider call being hung up; each refusal path too."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import httpx
import pytest

from callbridge.common.events import (
    CallEnded,
    CallEvent,
    CallJoined,
    CallTransferred,
    DtmfSent,
    ProviderCallHungUp,
)
from callbridge.common.models.medium import Provider
from callbridge.devkit.simulators.rest import CalleeScript, SimulatedRestApi
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.stack import RunningStack
from callbridge.devkit.timeline import follow_call
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import events_of, get_call
from tests.e2e.outbound import place_call, stack_dialing

HOLDS = "answers_and_speaks(ring_s=0.2, tone_hz=440, speech_s=1.0, hold_s=30)"
TO, FROM, TARGET = "+15550001111", "+15550002222", "+15557654321"
MEDIUM: dict[Provider, dict[str, Any]] = {
    Provider.TWILIO: {},
    Provider.TELNYX: {"codec": "L16", "sampleRate": 16000},
    Provider.PLIVO: {"codec": "L16", "sampleRate": 16000},
    Provider.EXOTEL: {"sampleRate": 16000},
}
TRANSFERABLE = [Provider.TWILIO, Provider.TELNYX, Provider.PLIVO]
TIMEOUT_S = 30.0
E = TypeVar("E", bound=CallEvent)


def account_for(provider: Provider, **config: Any) -> SimulatedRestApi:
    account = new_account(provider, script=CalleeScript.parse([f"*={HOLDS}"]), allow_insecure_ws=True)
    if config:
        original = account.telephony_config

        def with_config() -> dict[str, Any]:
            return {**original(), **config}

        account.telephony_config = with_config  # type: ignore[method-assign]  # the import's extra fields
    return account


def outgoing(provider: Provider, agent: dict[str, Any] | None = None) -> dict[str, Any]:
    medium = {**MEDIUM[provider], "outgoing": {"to": TO, "from": FROM}}
    return {"medium": {provider.value: medium}, "agentBackend": agent or {"echo": {"sampleRate": 16000}}}


async def joined_call(stack: RunningStack, nats_url: str, body: dict[str, Any]) -> str:
    response = await place_call(stack, body)
    assert response.status_code == 201, response.text
    call_id: str = response.json()["callId"]
    await events_of(nats_url, call_id, until=CallJoined, timeout_s=TIMEOUT_S)
    return call_id


async def post(stack: RunningStack, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        return await api.post(path, json=body)


async def collect(nats_url: str, call_id: str, *wanted: type[CallEvent]) -> list[CallEvent]:
    """The call's events from the start until one of each ``wanted`` type has come."""
    events: list[CallEvent] = []
    async with follow_call(nats_url, call_id) as queue, asyncio.timeout(TIMEOUT_S):
        while not all(any(isinstance(e, kind) for e in events) for kind in wanted):
            events.append(await queue.get())
    return events


def first(events: list[CallEvent], kind: type[E]) -> E:
    return next(event for event in events if isinstance(event, kind))


@pytest.mark.parametrize("provider", TRANSFERABLE, ids=[p.value for p in TRANSFERABLE])
async def test_a_transfer_through_the_api_stops_the_stream_and_ends_the_call_as_transferred(
    nats_url: str, clean_jetstream: None, provider: Provider
) -> None:
    account = account_for(provider)
    async with stack_dialing(nats_url, provider, account) as stack:
        call_id = await joined_call(stack, nats_url, outgoing(provider))
        response = await post(stack, f"/api/calls/{call_id}/transfer", {"target": TARGET})
        assert response.status_code == 202, response.text
        assert response.json()["command"] == "cold_transfer"
        events = await collect(nats_url, call_id, CallEnded, CallTransferred)
        (placed,) = account.outbound.calls.values()
        async with asyncio.timeout(TIMEOUT_S):
            await placed.ended.wait()
        record = await get_call(stack, call_id)
    outcome = first(events, CallTransferred)
    assert (outcome.outcome, outcome.target, str(outcome.command_id)) == (
        "transferred",
        TARGET,
        response.json()["commandId"],
    )
    ended = first(events, CallEnded)
    assert (ended.end_reason, ended.detail) == ("transferred", f"transferred to {TARGET}")
    assert record["endReason"] == "transferred"
    assert placed.line.transferred_to == TARGET
    assert placed.hung_up_by == "transfer"
    assert not placed.line.hung_up_by_api  # the transferred call was not hung up as well (§1.4)
    assert not any(isinstance(event, ProviderCallHungUp) for event in events)


async def test_a_transfer_to_a_sip_uri_carries_its_headers(nats_url: str, clean_jetstream: None) -> None:
    provider = Provider.TELNYX
    account = account_for(provider)
    async with stack_dialing(nats_url, provider, account) as stack:
        call_id = await joined_call(stack, nats_url, outgoing(provider))
        body = {"target": "sip:desk@example.com", "extraHeaders": {"X-Ticket": "42"}}
        response = await post(stack, f"/api/calls/{call_id}/transfer", body)
        assert response.status_code == 202, response.text
        await collect(nats_url, call_id, CallEnded, CallTransferred)
    (placed,) = account.outbound.calls.values()
    assert (placed.line.transferred_to, placed.line.transfer_headers) == (
        "sip:desk@example.com",
        {"X-Ticket": "42"},
    )


async def test_a_transfer_the_provider_refuses_leaves_the_call_with_the_agent(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.TWILIO
    account = account_for(provider)
    async with stack_dialing(nats_url, provider, account) as stack:
        call_id = await joined_call(stack, nats_url, outgoing(provider))
        (placed,) = account.outbound.calls.values()
        account.calls.pop(placed.call_id)  # Twilio no longer knows the call: 404 / 20404
        response = await post(stack, f"/api/calls/{call_id}/transfer", {"target": TARGET})
        assert response.status_code == 202, response.text
        events = await collect(nats_url, call_id, CallTransferred)
        record = await get_call(stack, call_id)
        hung_up = await post(stack, f"/api/calls/{call_id}/hang_up", {})
        assert hung_up.status_code == 202, hung_up.text  # the call went on with the agent
        ended = (await collect(nats_url, call_id, CallEnded))[-1]
    outcome = first(events, CallTransferred)
    assert outcome.outcome == "failed"
    assert "Twilio refused the transfer" in (outcome.detail or "")
    assert record["ended"] is None
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup"


async def test_refusals_are_clear(nats_url: str, clean_jetstream: None) -> None:
    provider = Provider.TWILIO
    account = account_for(provider)
    async with stack_dialing(nats_url, provider, account) as stack:
        unknown = await post(
            stack, "/api/calls/0190d8a0-0000-7000-8000-000000000000/transfer", {"target": TARGET}
        )
        call_id = await joined_call(stack, nats_url, outgoing(provider))
        bad_target = await post(stack, f"/api/calls/{call_id}/transfer", {"target": "desk"})
        bad_header = await post(
            stack,
            f"/api/calls/{call_id}/transfer",
            {"target": "sip:a@example.com", "extraHeaders": {"Via": "x"}},
        )
        hold_music = await post(
            stack,
            f"/api/calls/{call_id}/transfer",
            {"target": TARGET, "holdMusicUrl": "https://x.test/a.mp3"},
        )
        dtmf = await post(stack, f"/api/calls/{call_id}/send_dtmf", {"digits": "12"})
        bad_digits = await post(stack, f"/api/calls/{call_id}/send_dtmf", {"digits": "12x"})
        async with httpx.AsyncClient(
            base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}
        ) as api:
            assert (await api.delete("/api/telephony_configs/twilio")).status_code == 204
        no_credentials = await post(stack, f"/api/calls/{call_id}/transfer", {"target": TARGET})
        await post(stack, f"/api/calls/{call_id}/hang_up", {})
        await events_of(nats_url, call_id, timeout_s=TIMEOUT_S)
        ended = await post(stack, f"/api/calls/{call_id}/transfer", {"target": TARGET})
    assert unknown.status_code == 404, unknown.text
    assert bad_target.status_code == 422, bad_target.text
    assert "E.164" in bad_target.text, bad_target.text
    assert bad_header.status_code == 422, bad_header.text
    assert "X- header" in bad_header.text, bad_header.text
    assert hold_music.status_code == 422, hold_music.text
    assert "Twilio plays no hold music" in hold_music.text, hold_music.text
    assert dtmf.status_code == 422, dtmf.text
    assert "Twilio has no API to send DTMF" in dtmf.text, dtmf.text
    assert bad_digits.status_code == 422, bad_digits.text
    assert no_credentials.status_code == 422
    assert "no Twilio credentials" in no_credentials.text
    assert ended.status_code == 409, ended.text


async def test_exotel_transfers_only_where_its_flow_connects(nats_url: str, clean_jetstream: None) -> None:
    provider = Provider.EXOTEL
    account = account_for(provider)
    async with stack_dialing(nats_url, provider, account) as stack:
        call_id = await joined_call(stack, nats_url, outgoing(provider))
        refused = await post(stack, f"/api/calls/{call_id}/transfer", {"target": TARGET})
        await post(stack, f"/api/calls/{call_id}/hang_up", {})
    assert refused.status_code == 422
    assert "Exotel has no API to transfer a live call: set flowTransferTarget" in refused.text


async def test_exotel_transfers_by_ending_the_stream_when_the_flow_connects(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.EXOTEL
    account = account_for(provider, flowTransferTarget=TARGET)
    async with stack_dialing(nats_url, provider, account) as stack:
        call_id = await joined_call(stack, nats_url, outgoing(provider))
        elsewhere = await post(stack, f"/api/calls/{call_id}/transfer", {"target": "+15550009999"})
        response = await post(stack, f"/api/calls/{call_id}/transfer", {"target": TARGET})
        assert response.status_code == 202, response.text
        events = await collect(nats_url, call_id, CallEnded, CallTransferred)
    assert elsewhere.status_code == 422
    assert f"connects callers to {TARGET} only" in elsewhere.text
    assert first(events, CallTransferred).outcome == "transferred"
    assert first(events, CallEnded).end_reason == "transferred"
    (placed,) = account.outbound.calls.values()
    async with asyncio.timeout(TIMEOUT_S):
        await placed.ended.wait()
    assert placed.hung_up_by == "stream"  # media closed it: the flow's next applet connects the caller


@pytest.mark.parametrize(
    ("provider", "body"),
    [(Provider.TELNYX, {"digits": "12w#", "toneDuration": 0.25}), (Provider.PLIVO, {"digits": "9*A"})],
    ids=["telnyx", "plivo"],
)
async def test_keys_are_sent_out_of_band(
    nats_url: str, clean_jetstream: None, provider: Provider, body: dict[str, Any]
) -> None:
    account = account_for(provider)
    async with stack_dialing(nats_url, provider, account) as stack:
        call_id = await joined_call(stack, nats_url, outgoing(provider))
        response = await post(stack, f"/api/calls/{call_id}/send_dtmf", body)
        assert response.status_code == 202, response.text
        events = await collect(nats_url, call_id, DtmfSent)
        await post(stack, f"/api/calls/{call_id}/hang_up", {})
    sent = first(events, DtmfSent)
    assert (sent.outcome, sent.digits) == ("sent", body["digits"])
    (placed,) = account.outbound.calls.values()
    assert placed.line.dtmf_sent == [body["digits"]]


async def test_plivo_refuses_a_tone_duration(nats_url: str, clean_jetstream: None) -> None:
    provider = Provider.PLIVO
    account = account_for(provider)
    async with stack_dialing(nats_url, provider, account) as stack:
        call_id = await joined_call(stack, nats_url, outgoing(provider))
        response = await post(stack, f"/api/calls/{call_id}/send_dtmf", {"digits": "1", "toneDuration": 0.2})
        await post(stack, f"/api/calls/{call_id}/hang_up", {})
    assert response.status_code == 422
    assert "Plivo chooses the key length" in response.text


async def test_the_agents_cold_transfer_plays_its_last_words_then_transfers(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.TWILIO
    account = account_for(provider)
    goodbye = (
        b"\x10\x27" * 8000
    )  # 0.5 s of a constant at 16 kHz: what the caller must hear before the transfer

    async def transfer(peer: AgentPeer) -> None:
        await peer.wait_for_audio()
        await peer.send_audio(goodbye)
        await peer.send_message(
            {
                "type": "client_tool_invocation",
                "toolName": "coldTransfer",
                "invocationId": "xfer",
                "parameters": {"target": "+15550000000"},
            }
        )

    async with (
        agent_server(transfer) as (agent_url, peers),
        stack_dialing(nats_url, provider, account) as stack,
    ):
        agent = {"websocket": {"url": agent_url, "inputSampleRate": 16000, "outputSampleRate": 16000}}
        body = outgoing(provider, agent)
        # The call's parameterOverrides win over the agent's: the caller goes where the call says.
        body["selectedTools"] = [{"toolName": "coldTransfer", "parameterOverrides": {"target": TARGET}}]
        call_id = await joined_call(stack, nats_url, body)
        events = await collect(nats_url, call_id, CallEnded, CallTransferred)
        result = await peers[0].wait_for_message("client_tool_result", timeout_s=TIMEOUT_S)
    (placed,) = account.outbound.calls.values()
    assert first(events, CallTransferred).origin == "agent"
    assert first(events, CallEnded).end_reason == "transferred"
    assert placed.line.transferred_to == TARGET
    assert result["invocationId"] == "xfer"
    assert "errorMessage" not in result
    recording = placed.recording
    assert recording is not None
    heard = sum(1 for received in recording.received if received.event == "media")
    assert heard >= 20  # the goodbye's 0.5 s (25 frames of 20 ms, less the first's lead) reached the caller


async def test_a_call_callbridge_ends_is_hung_up_at_the_provider_once(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.PLIVO  # a stream's end leaves Plivo's call up only until its XML runs out
    account = account_for(provider)
    async with stack_dialing(nats_url, provider, account) as stack:
        call_id = await joined_call(stack, nats_url, outgoing(provider))
        await post(stack, f"/api/calls/{call_id}/hang_up", {})
        events = await collect(nats_url, call_id, CallEnded, ProviderCallHungUp)
    hung_up = first(events, ProviderCallHungUp)
    assert hung_up.result in ("hung_up", "already_ended")
    assert first(events, CallEnded).by_provider is False


async def test_plivos_transfer_xml_is_served_only_to_plivo(nats_url: str, clean_jetstream: None) -> None:
    provider = Provider.PLIVO
    account = account_for(provider)
    async with stack_dialing(nats_url, provider, account) as stack:
        call_id = await joined_call(stack, nats_url, outgoing(provider))
        response = await post(stack, f"/api/calls/{call_id}/transfer", {"target": TARGET})
        command_id = response.json()["commandId"]
        await collect(nats_url, call_id, CallEnded, CallTransferred)
        async with httpx.AsyncClient(base_url=stack.webhooks_url) as http:
            unsigned = await http.post(
                f"/api/calls/{call_id}/transfer_xml/plivo/{command_id}", data={"CallUUID": "x"}
            )
    assert unsigned.status_code == 403, unsigned.text
    (placed,) = account.outbound.calls.values()
    assert placed.line.transferred_to == TARGET  # the signed fetch got the <Dial>


async def test_an_agents_transfer_the_provider_cannot_make_gives_the_call_back_to_the_agent(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.EXOTEL  # no flowTransferTarget: Exotel cannot transfer
    account = account_for(provider)

    async def transfer(peer: AgentPeer) -> None:
        await peer.wait_for_audio()
        await peer.send_message(
            {
                "type": "client_tool_invocation",
                "toolName": "coldTransfer",
                "invocationId": "xfer",
                "parameters": {"target": TARGET},
            }
        )

    async with agent_server(transfer) as (agent_url, _), stack_dialing(nats_url, provider, account) as stack:
        agent = {"websocket": {"url": agent_url, "inputSampleRate": 16000, "outputSampleRate": 16000}}
        call_id = await joined_call(stack, nats_url, outgoing(provider, agent))
        failed = first(await collect(nats_url, call_id, CallTransferred), CallTransferred)
        # The call is the agent's again: a hang-up through the API ends it as a hang-up, not a transfer.
        hung_up = await post(stack, f"/api/calls/{call_id}/hang_up", {})
        ended = first(await collect(nats_url, call_id, CallEnded), CallEnded)
    assert failed.outcome == "failed"
    assert "set flowTransferTarget" in (failed.detail or "")
    assert hung_up.status_code == 202, hung_up.text
    assert ended.end_reason == "hangup"


async def test_an_agents_transfer_the_provider_refuses_tells_the_agent_why(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.TWILIO
    account = account_for(provider)

    async def transfer(peer: AgentPeer) -> None:
        await peer.wait_for_audio()
        (placed,) = account.outbound.calls.values()
        account.calls.pop(placed.call_id)  # Twilio no longer knows the call: 404 / 20404
        await peer.send_message(
            {
                "type": "client_tool_invocation",
                "toolName": "coldTransfer",
                "invocationId": "xfer",
                "parameters": {"target": TARGET},
            }
        )

    async with (
        agent_server(transfer) as (agent_url, peers),
        stack_dialing(nats_url, provider, account) as stack,
    ):
        agent = {"websocket": {"url": agent_url, "inputSampleRate": 16000, "outputSampleRate": 16000}}
        call_id = await joined_call(stack, nats_url, outgoing(provider, agent))
        failed = first(await collect(nats_url, call_id, CallTransferred), CallTransferred)
        told = await peers[0].wait_for_message("user_text_message", timeout_s=TIMEOUT_S)
        result = await peers[0].wait_for_message("client_tool_result", timeout_s=TIMEOUT_S)
        hung_up = await post(stack, f"/api/calls/{call_id}/hang_up", {})
        ended = first(await collect(nats_url, call_id, CallEnded), CallEnded)
    assert failed.outcome == "failed"
    assert result["invocationId"] == "xfer"
    assert told["urgency"] == "immediate"
    assert told["text"].startswith(f"[The transfer to {TARGET} failed: Twilio refused the transfer: ")
    assert told["text"].endswith("The caller is still on the line with you.]")
    assert hung_up.status_code == 202, hung_up.text
    assert ended.end_reason == "hangup"  # the call went on with the agent
