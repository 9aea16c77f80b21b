"""An outbound call on each provider's simulated account, end to end: a call created through the API, dialed
with callbridge's REST client, answered by a callee that speaks, streamed by the account as the provider
streams (Plivo from the answer URL's XML) to media and the echo agent, its status callbacks verified by the
webhooks service as the provider's, and the callee hearing its own voice back."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest

from callbridge.common.events import CallEnded, CallJoined
from callbridge.common.models.medium import Provider
from callbridge.common.secrets import SecretBox
from callbridge.devkit.signals import sinad_db
from callbridge.devkit.simulators.audio_codec import ByteOrder
from callbridge.devkit.simulators.rest import CalleeScript, Outcome
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.stack import RunningStack
from callbridge.telephony import DialRequest, provider_for
from tests.e2e.helpers import SECRET_KEY, audio_sent_back, create_call, events_of
from tests.e2e.outbound import (
    client_settings,
    import_account,
    plivo_answer_server,
    status_callback_url,
    stored_config,
)

TONE_HZ = 1000.0
CALLEE = CalleeScript.parse(
    [f"*=answers_and_speaks(ring_s=0.2, tone_hz={TONE_HZ:g}, speech_s=1.5, hold_s=2.5)"]
)
MEDIUM: dict[Provider, dict[str, Any]] = {
    Provider.TWILIO: {"twilio": {}},
    Provider.TELNYX: {"telnyx": {"codec": "L16", "sampleRate": 16000}},
    Provider.PLIVO: {"plivo": {"codec": "L16", "sampleRate": 16000}},
    Provider.EXOTEL: {"exotel": {"sampleRate": 16000}},
}
RATE_HZ = {Provider.TWILIO: 8000, Provider.TELNYX: 16000, Provider.PLIVO: 16000, Provider.EXOTEL: 16000}
MIN_SINAD_DB = {Provider.TWILIO: 25.0, Provider.TELNYX: 50.0, Provider.PLIVO: 50.0, Provider.EXOTEL: 50.0}
CALL_TIMEOUT_S = 30.0


@pytest.mark.parametrize("provider", list(Provider), ids=[p.value for p in Provider])
async def test_an_outbound_call_reaches_the_echo_agent_and_the_callee_hears_itself(
    stack: RunningStack, nats_url: str, provider: Provider
) -> None:
    account = new_account(provider, script=CALLEE, allow_insecure_ws=True)
    box = SecretBox(SECRET_KEY)
    config = stored_config(account, provider, box)
    async with account.serve() as api_url:
        await import_account(stack, provider, account)
        created = await create_call(
            stack, {"medium": MEDIUM[provider], "agentBackend": {"echo": {"sampleRate": 16000}}}
        )
        call_id, join_url = created["callId"], created["joinUrl"]
        status_url = status_callback_url(stack, call_id, provider, account)
        async with (
            plivo_answer_server(config, MEDIUM[provider], call_id, join_url, status_url) as answer_url,
            provider_for(provider).rest_client(
                config, box.decrypt, client_settings(provider, api_url)
            ) as client,
        ):
            result = await client.dial(
                DialRequest(
                    call_id=UUID(call_id),
                    to="+15550001111",
                    from_="+15550002222",
                    join_url=join_url,
                    status_callback_url=status_url,
                    answer_url=answer_url,
                    codec="L16" if provider is Provider.TELNYX else None,
                    sample_rate_hz=16000 if provider is not Provider.TWILIO else None,
                )
            )
            (call,) = account.outbound.calls.values()
            async with asyncio.timeout(CALL_TIMEOUT_S):
                await call.ended.wait()
    assert result.provider_call_id in (call.call_id, None)
    assert (call.outcome, call.hung_up_by, call.error) == (Outcome.COMPLETED, "callee", None)
    # Every status callback was verified and accepted by webhooks as the provider's.
    answers = [(record.event, record.status_code, record.answer) for record in call.callbacks.sent]
    assert all(status == 200 for _, status, _ in answers), answers
    recording = call.recording
    assert recording is not None
    assert recording.violations == []
    assert recording.sample_rate_hz == RATE_HZ[provider]
    byte_order: ByteOrder = "big" if provider is Provider.TELNYX else "little"  # the simulators' L16 orders
    echoed = audio_sent_back(recording, byte_order=byte_order)
    rate = recording.heard_rate_hz
    assert len(echoed) > rate  # more than a second of the callee's voice came back
    assert sinad_db(echoed[rate // 10 : rate], TONE_HZ, rate) >= MIN_SINAD_DB[provider]
    events = await events_of(nats_url, call_id)
    joined = next(event for event in events if isinstance(event, CallJoined))
    assert joined.provider_details is not None
    assert joined.provider_details.call_id == call.call_id
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup"
