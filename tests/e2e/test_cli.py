"""The developer commands on a running stack: the demo call of `callbridge up`, and `callbridge sim call`."""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from callbridge.common.models.medium import Provider
from callbridge.devkit.cli import build_parser
from callbridge.devkit.demo import (
    DEMO_AGENT_NAME,
    demo_callee_account,
    run_demo_call,
    run_outbound_demo_call,
)
from callbridge.devkit.provision import provision_demo_agent, provision_twilio_agent
from callbridge.devkit.signals import read_wav
from callbridge.devkit.simulate import parse_keys, simulate_call
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from callbridge.media.agents.demo import prompt
from tests.e2e.helpers import API_KEY, SECRET_KEY


def prompt_ms(*names: str) -> int:
    """Length of the demo agent's recorded prompts (16 kHz, 16-bit: 32 bytes per ms)."""
    return sum(len(prompt(name)) for name in names) // 32


def timeline_of(output: str) -> list[tuple[float, str]]:
    """(seconds, text) of each timeline line the demo printed."""
    found = [re.match(r"\s+(\d+\.\d+)s  (.*)", line) for line in output.splitlines()]
    return [(float(match.group(1)), match.group(2)) for match in found if match]


def at(timeline: list[tuple[float, str]], text: str) -> int:
    return next(index for index, (_, line) in enumerate(timeline) if line.startswith(text))


async def test_demo_call_barges_in_reads_back_the_key_and_hangs_up(
    stack: RunningStack, nats_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_demo_call(stack, nats_url, tmp_path / "heard.wav")
    output = capsys.readouterr().out
    lines = [line.strip() for line in output.splitlines()]
    timeline = [text for _, text in timeline_of(output)]
    assert timeline[0] == "created"
    assert timeline[1].startswith("joined (pcmu/8000")
    assert "caller pressed 5" in timeline
    assert any(line.startswith("barge-in: turn 0 cut after") for line in timeline)
    assert "agent says: You pressed 5." in timeline
    assert "caller pressed #" in timeline
    assert "agent invoked hangUp" in timeline
    assert timeline[-1].startswith("ended: agent_hangup")
    wav_line = next(line for line in lines if line.startswith("what the caller heard:"))
    assert wav_line == f"what the caller heard: {tmp_path / 'heard.wav'}"
    heard, rate = read_wav(tmp_path / "heard.wav")
    assert rate == 8000
    assert len(heard) > 6 * rate  # greeting until the key press, the read-back and the goodbye


@pytest.mark.slow
async def test_demo_timeline_tells_what_the_caller_hears(
    stack: RunningStack,
    nats_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))

    await run_demo_call(stack, nats_url, tmp_path / "heard.wav")

    output = capsys.readouterr().out
    timeline = timeline_of(output)
    greeting, barge_in = at(timeline, "agent says: Hello"), at(timeline, "barge-in:")
    # The greeting plays until the key cuts it: the agent is not listening meanwhile.
    assert "agent is listening" not in [text for _, text in timeline[greeting:barge_in]]
    # The read-back plays in full; the agent listens once it has.
    read_back = at(timeline, "agent says: You pressed 5.")
    listening = read_back + at(timeline[read_back:], "agent is listening")
    played_s = timeline[listening][0] - timeline[read_back][0]
    assert played_s >= prompt_ms("pressed", "digit_5") / 1000 - 0.05
    assert listening < at(timeline, "caller pressed #")
    # The cut is reported against the greeting's full length.
    cut = re.fullmatch(r"barge-in: turn 0 cut after (\d+) of (\d+) ms heard", timeline[barge_in][1])
    assert cut is not None, timeline[barge_in]
    heard_ms, full_ms = int(cut.group(1)), int(cut.group(2))
    assert full_ms == prompt_ms("greeting")
    # What the caller heard: the greeting up to the cut, then the read-back and the goodbye in full.
    heard_s = re.search(r"caller heard (\d+\.\d) s of agent speech", output)
    assert heard_s is not None, output
    expected_s = (heard_ms + prompt_ms("pressed", "digit_5", "goodbye")) / 1000
    assert float(heard_s.group(1)) == pytest.approx(expected_s, abs=0.15)
    assert list(temporary.iterdir()) == []  # nothing left behind in the temporary directory


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


@pytest.mark.slow
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


@pytest.mark.slow
async def test_the_demos_outbound_call_goes_through_a_simulated_account(
    nats_url: str, clean_jetstream: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    account = demo_callee_account(allow_insecure_ws=True)
    async with (
        account.serve() as api_url,
        run_stack(
            StackConfig(
                nats_url=nats_url,
                api_key=API_KEY,
                secret_key=SECRET_KEY,
                provider_api_urls={Provider.TWILIO: api_url},
            )
        ) as stack,
    ):
        provisioned = await provision_demo_agent(
            stack.webhooks_url,
            stack.api_key,
            stack.public_base_url,
            name=DEMO_AGENT_NAME,
            call_template={"agentBackend": {"demo": {}}, "systemPrompt": "Demo for {{user.phone_number}}"},
        )
        await run_outbound_demo_call(stack, nats_url, provisioned, account)  # what run_demo_call ends with
    outbound = capsys.readouterr().out
    timeline = [text for _, text in timeline_of(outbound)]
    assert timeline[0] == "created"
    assert timeline[1].startswith("dial: dialing (twilio accepted")
    assert any(line.startswith("dial: ringing") for line in timeline)
    assert any(line.startswith("dial: answered") for line in timeline)
    assert any(line.startswith("joined (pcmu/8000") for line in timeline)
    assert timeline[-1].startswith("ended: hangup")
    heard = re.search(r"the callee heard (\d+\.\d) s of the agent; the call ended completed", outbound)
    assert heard is not None, outbound
    assert float(heard.group(1)) > 1.0  # the demo agent's greeting reached the callee
    (placed,) = account.outbound.calls.values()
    assert placed.to == "+15005550010"
