"""The developer commands on a running stack: the demo call of `callbridge up`, and `callbridge sim call`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import httpx
import pytest

from callbridge.devkit.cli import build_parser
from callbridge.devkit.demo import DEMO_AGENT_NAME, run_demo_call
from callbridge.devkit.provision import provision_twilio_agent
from callbridge.devkit.signals import read_wav
from callbridge.devkit.simulate import parse_keys, simulate_call
from callbridge.devkit.stack import RunningStack


async def test_demo_call_barges_in_reads_back_the_key_and_hangs_up(
    stack: RunningStack, nats_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_demo_call(stack, nats_url, tmp_path / "heard.wav")
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
    for wrong in ("2.0-5", "soon:5", "2.0:55"):
        with pytest.raises(argparse.ArgumentTypeError, match="SECONDS:KEY"):
            parse_keys(wrong)


async def api(stack: RunningStack, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as client:
        response = await client.request(method, path, json=body, timeout=10)
    response.raise_for_status()
    return response.json()


async def agents_named(stack: RunningStack, name: str) -> list[str]:
    page = await api(stack, "GET", "/api/agents?pageSize=1000")
    return [agent["agentId"] for agent in page["results"] if agent["name"] == name]


async def test_the_demo_reuses_its_agent_and_twilio_config_on_every_run(
    stack: RunningStack, nats_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_demo_call(stack, nats_url, tmp_path / "heard.wav")
    first = await agents_named(stack, DEMO_AGENT_NAME)

    await run_demo_call(stack, nats_url, tmp_path / "heard.wav")

    assert await agents_named(stack, DEMO_AGENT_NAME) == first
    assert len(first) == 1
    config = await api(stack, "GET", "/api/telephony_configs/twilio")
    assert config["callCreationAllowedAgentIds"] == first
    assert capsys.readouterr().out.count("ended: agent_hangup") == 2


async def test_the_demo_leaves_imported_twilio_credentials_alone(
    stack: RunningStack, nats_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = {"accountSid": "AC" + "1" * 32, "authToken": "my-real-twilio-token"}
    before = await api(stack, "POST", "/api/telephony_configs/twilio", mine)

    await run_demo_call(stack, nats_url, tmp_path / "heard.wav")

    assert await api(stack, "GET", "/api/telephony_configs/twilio") == before
    assert await agents_named(stack, DEMO_AGENT_NAME) == []
    assert "demo: skipped: Twilio credentials of account AC111" in capsys.readouterr().out
    assert not (tmp_path / "heard.wav").exists()
