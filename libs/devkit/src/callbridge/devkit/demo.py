"""The demo call ``callbridge up`` places: a simulated Twilio caller talks to the built-in demo agent.

The caller presses 5 while the greeting plays (a barge-in: the greeting is cut, the agent answers "you
pressed five"), then #, and the agent says goodbye and hangs up. The call's events are printed as they
arrive on NATS, and what the caller heard is saved as a WAV file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from callbridge.devkit.provision import ProvisioningRefusedError, provision_demo_agent
from callbridge.devkit.signals import silence, write_wav
from callbridge.devkit.simulators.twilio import TwilioSimulator
from callbridge.devkit.stack import RunningStack
from callbridge.devkit.timeline import follow_call, print_timeline
from callbridge.media.agents.demo import utterance_lengths_ms

DEMO_KEYS = ((3.0, "5"), (6.5, "#"))
CALLER_AUDIO_S = 20.0  # longer than the demo: the agent, not the caller, ends this call
SAMPLE_RATE_HZ = 8000
DEMO_AGENT_NAME = "callbridge-demo"


async def run_demo_call(stack: RunningStack, nats_url: str, recording_path: Path) -> None:
    """Place the demo call, print its timeline, and write what the caller heard to ``recording_path``."""
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
