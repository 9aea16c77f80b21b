"""The demo calls ``callbridge up`` places: a simulated Twilio caller talks to the built-in demo agent, then
the agent calls a simulated callee out.

The caller presses 5 while the greeting plays (a barge-in: the greeting is cut, the agent answers "you
pressed five"), then #, and the agent says goodbye and hangs up. The call's events are printed as they
arrive on NATS, and what the caller heard is saved as a WAV file. Then an outbound call from the same
agent is placed by the dialer through a simulated Twilio account (the REST API ``callbridge sim account``
runs), whose callee answers after a ring, says something and hangs up; its timeline is printed the same
way, dial steps included.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np

from callbridge.devkit.provision import (
    HTTP_TIMEOUT_S,
    SIMULATED_ACCOUNT_SID,
    Provisioned,
    ProvisioningRefusedError,
    provision_demo_agent,
)
from callbridge.devkit.signals import silence, write_wav
from callbridge.devkit.simulators.rest import CalleeScript, TwilioRestApi
from callbridge.devkit.simulators.twilio import TwilioSimulator
from callbridge.devkit.stack import RunningStack
from callbridge.devkit.timeline import follow_call, print_timeline
from callbridge.media.agents.demo import utterance_lengths_ms

DEMO_KEYS = ((3.0, "5"), (6.5, "#"))
CALLER_AUDIO_S = 20.0  # longer than the demo: the agent, not the caller, ends this call
SAMPLE_RATE_HZ = 8000
DEMO_AGENT_NAME = "callbridge-demo"


OUTBOUND_TO = "+15005550010"
OUTBOUND_FROM = "+15005550001"
OUTBOUND_CALLEE = "answers_and_speaks(ring_s=1, speech_s=1.5, hold_s=6)"
"""What the demo's simulated callee does: rings a second, answers, speaks, and hangs up 6 s later."""


def demo_callee_account(*, allow_insecure_ws: bool) -> TwilioRestApi:
    """The simulated Twilio account the demo's outbound call is placed through; its auth token is set to the
    demo's credentials once they are provisioned (``run_demo_call``)."""
    script = CalleeScript.parse([f"*={OUTBOUND_CALLEE}"])
    return TwilioRestApi(
        SIMULATED_ACCOUNT_SID, "not-provisioned-yet", script=script, allow_insecure_ws=allow_insecure_ws
    )


async def run_demo_call(
    stack: RunningStack, nats_url: str, recording_path: Path, outbound: TwilioRestApi | None = None
) -> None:
    """Place the demo call, print its timeline, and write what the caller heard to ``recording_path``;
    then, with ``outbound`` (the stack's Twilio REST API), have the agent call out through it."""
    try:
        provisioned = await provision_demo_agent(
            stack.webhooks_url,
            stack.api_key,
            stack.public_base_url,
            name=DEMO_AGENT_NAME,
            call_template={"agentBackend": {"demo": {}}, "systemPrompt": "Demo for {{user.phone_number}}"},
        )
    except ProvisioningRefusedError as exc:
        print(f"\ndemo: skipped: {exc}. Run `callbridge up --ephemeral` to see the demo.\n")
        return
    simulator = TwilioSimulator(
        provisioned.webhook_url,
        provisioned.auth_token,
        provisioned.account_sid,
        allow_insecure_ws=stack.media_public_url.startswith("ws://"),
    )
    print(f"\ndemo: simulated Twilio call to agent {provisioned.agent_id} (presses 5, then #)")
    answer = await simulator.incoming_call(from_number="+15005550006", to_number="+15005550001")
    call_id = answer.parameters.get("callId", "")
    # The join URL's token is a credential: shown as a prefix, like every secret callbridge prints.
    stream_url, _, token = answer.stream_url.rpartition("/")
    print(f"  webhook answered TwiML; call {call_id}, join URL {stream_url}/{token[:4]}…")
    async with follow_call(nats_url, call_id, stack.nats_credentials) as events:
        timeline = asyncio.create_task(
            print_timeline(events, utterance_ms=utterance_lengths_ms()), name="timeline"
        )
        recording = await simulator.stream(
            answer, silence(CALLER_AUDIO_S, SAMPLE_RATE_HZ), dtmf=DEMO_KEYS, tail_s=0.0
        )
        await timeline
    heard = recording.heard if recording.heard is not None else np.zeros(0, dtype=np.int16)
    played = sum(1 for mark in recording.marks if mark.echoed_at_s is not None and not mark.cleared)
    cleared = sum(1 for mark in recording.marks if mark.cleared)
    write_wav(recording_path, heard, SAMPLE_RATE_HZ)
    print(
        f"  caller heard {recording.heard_s:.1f} s of agent speech; marks: {played} played, "
        f"{cleared} cleared; ended by {recording.ended_by} (code {recording.close_code})"
    )
    print(f"  what the caller heard: {recording_path}\n")
    if outbound is not None:
        await run_outbound_demo_call(stack, nats_url, provisioned, outbound)


async def run_outbound_demo_call(
    stack: RunningStack, nats_url: str, provisioned: Provisioned, account: TwilioRestApi
) -> None:
    """``POST /api/agents/{agentId}/calls`` with ``medium.twilio.outgoing``: the dialer places the call
    through the simulated account, whose callee answers; print the call's timeline."""
    account.auth_token = provisioned.auth_token  # the account signs its callbacks with the imported token
    print(f"demo: outbound call from agent {provisioned.agent_id} to {OUTBOUND_TO} (simulated callee)")
    body = {
        "templateContext": {"user": {"phone_number": OUTBOUND_TO}},
        "medium": {"twilio": {"outgoing": {"to": OUTBOUND_TO, "from": OUTBOUND_FROM}}},
    }
    async with httpx.AsyncClient(
        base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}, timeout=HTTP_TIMEOUT_S
    ) as api:
        response = await api.post(f"/api/agents/{provisioned.agent_id}/calls", json=body)
    if response.status_code != 201:
        print(f"  refused: {response.status_code} {response.text[:200]}\n")
        return
    call_id = response.json()["callId"]
    print(f"  call {call_id} created; the dialer places it")
    async with follow_call(nats_url, call_id, stack.nats_credentials) as events:
        await print_timeline(events, utterance_ms=utterance_lengths_ms())
    for placed in account.outbound.calls.values():
        heard_s = placed.recording.heard_s if placed.recording is not None else 0.0
        print(f"  the callee heard {heard_s:.1f} s of the agent; the call ended {placed.outcome}\n")
