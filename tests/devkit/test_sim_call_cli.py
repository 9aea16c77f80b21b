"""`callbridge sim call --provider …` for Telnyx, Plivo and Exotel against a fake callbridge (Twilio's run is
in tests/e2e/test_cli.py): each provider's credentials, the answer's rate for the tone, the saved WAV."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from callbridge.devkit.cli import build_parser
from callbridge.devkit.errors import UsageError
from callbridge.devkit.signals import read_wav
from callbridge.devkit.simulate import simulate_call
from tests.devkit.fake_provider_server import FakeServer, HttpRequest

SEED_HEX = bytes(range(32)).hex()
PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
CREDENTIALS = {
    "telnyx": ["--private-key-seed", SEED_HEX, "--public-key", PUBLIC_KEY],
    "plivo": ["--auth-id", "MAXXXXXXXXXXXXXXXXXX", "--auth-token", "plivo-token"],
    "exotel": ["--webhook-secret", "exotel-secret"],
}


def answers(fake: FakeServer, provider: str) -> None:
    url = f"{fake.ws_url}/{provider}"
    documents = {
        "telnyx": (
            "text/xml",
            f'<Response><Connect><Stream url="{url}" bidirectionalMode="rtp" codec="L16" '
            'bidirectionalCodec="L16" bidirectionalSamplingRate="16000"/></Connect></Response>',
        ),
        "plivo": (
            "application/xml",
            '<Response><Stream bidirectional="true" keepCallAlive="true" '
            f'contentType="audio/x-l16;rate=16000">{url}</Stream></Response>',
        ),
        "exotel": ("application/json", f'{{"url": "{url}?sample-rate=16000"}}'),
    }

    def answer(request: HttpRequest) -> tuple[int, str, str]:
        content_type, body = documents[provider]
        return 200, content_type, body

    fake.answer = answer


@pytest.mark.parametrize("provider", ["telnyx", "plivo", "exotel"])
async def test_sim_call_places_a_call_for_each_provider_and_saves_heard_audio_at_its_rate(
    fake_server: FakeServer, provider: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(fake_server, provider)
    heard_path = tmp_path / "heard.wav"
    args = build_parser().parse_args(
        ["sim", "call", "--provider", provider, "--webhook-url", f"{fake_server.http_url}/hook",
         *CREDENTIALS[provider], "--hang-up-after-s", "0.1", "--save-heard", str(heard_path)]
    )  # fmt: skip

    assert await simulate_call(args) == 0

    output = capsys.readouterr().out
    assert output.startswith(f"{provider} call ")
    assert "frames sent      5" in output
    assert "protocol errors  0" in output
    assert "16000 in" in output
    media = fake_server.log.of("media")
    assert len(base64.b64decode(media[0][1]["media"]["payload"])) == 640  # a 16 kHz tone, 20 ms frames
    heard, rate_hz = read_wav(heard_path)
    assert rate_hz == 16000
    assert len(heard) == pytest.approx(0.1 * 16000, abs=0.03 * 16000)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--provider", "plivo", "--auth-token", "t"], "--auth-id"),
        (["--provider", "exotel"], "--webhook-secret"),
        (["--provider", "telnyx"], "--private-key-seed"),
        (
            ["--provider", "telnyx", "--private-key-seed", "00" * 32, "--public-key", PUBLIC_KEY],
            "does not match",
        ),
        (["--provider", "telnyx", "--private-key-seed", "not-a-seed"], "32 bytes"),
        (["--auth-token", "t"], "--account-sid"),  # twilio, the default
    ],
)
async def test_sim_call_refuses_missing_or_wrong_credentials(arguments: list[str], message: str) -> None:
    args = build_parser().parse_args(["sim", "call", "--webhook-url", "http://127.0.0.1:1/hook", *arguments])

    with pytest.raises(UsageError, match=message):
        await simulate_call(args)
