"""The developer commands on a running stack: the demo call of `callbridge up`, and `callbridge sim call`."""

from __future__ import annotations

from pathlib import Path

import pytest

from callbridge.devkit.cli import build_parser
from callbridge.devkit.demo import run_demo_call
from callbridge.devkit.provision import provision_twilio_agent
from callbridge.devkit.signals import read_wav
from callbridge.devkit.simulate import parse_keys, simulate_call
from callbridge.devkit.stack import RunningStack


async def test_demo_call_barges_in_reads_back_the_key_and_hangs_up(
    stack: RunningStack, nats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_demo_call(stack, nats_url)
    output = capsys.readouterr().out
    lines = [line.strip() for line in output.splitlines()]
    timeline = [line.split("s  ", 1)[1] for line in lines if line[:1].isdigit() and "s  " in line]
    assert timeline[0] == "created"
    assert timeline[1].startswith("joined (pcmu/8000")
    assert "caller pressed 5" in timeline
    assert any(line.startswith("barge-in: turn 0 cut after") for line in timeline)
    assert "agent says: You pressed 5." in timeline
    assert "caller pressed #" in timeline
    assert "agent invoked hangUp" in timeline
    assert timeline[-1].startswith("ended: agent_hangup")
    wav_line = next(line for line in lines if line.startswith("what the caller heard:"))
    heard, rate = read_wav(wav_line.split(": ", 1)[1])
    assert rate == 8000
    assert len(heard) > 6 * rate  # greeting until the key press, the read-back and the goodbye


async def test_sim_call_places_a_call_and_saves_what_was_heard(
    stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provisioned = await provision_twilio_agent(
        stack.webhooks_url, stack.api_key, stack.public_base_url, call_template={"agentBackend": {"echo": {}}}
    )
    heard_path = tmp_path / "heard.wav"
    args = build_parser().parse_args(
        ["sim", "call", "--webhook-url", provisioned.webhook_url, "--auth-token", provisioned.auth_token,
         "--account-sid", provisioned.account_sid, "--duration-s", "1", "--dtmf", "0.5:1",
         "--save-heard", str(heard_path)]
    )  # fmt: skip
    assert await simulate_call(args) == 0
    output = capsys.readouterr().out
    assert "frames sent      100" in output  # 1 s of tone, then 1 s of the carrier's tail before stop
    assert "protocol errors  0" in output
    heard, _ = read_wav(heard_path)
    assert len(heard) >= 8000


def test_dtmf_option_parses_times_and_keys() -> None:
    assert parse_keys("2.0:5, 4.5:#") == [(2.0, "5"), (4.5, "#")]
    with pytest.raises(SystemExit):
        parse_keys("2.0-5")
