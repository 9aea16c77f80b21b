"""What the `callbridge` command says when something is wrong: one line on stderr, exit status 2, and no
traceback."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from callbridge.devkit.cli import EXIT_ERROR, main
from callbridge.devkit.nats_server import free_port
from callbridge.devkit.signals import tone, write_wav
from tests.devkit.fake_provider_server import FakeServer, HttpRequest

TWILIO = ["--auth-token", "token-0123456789", "--account-sid", "AC" + "0" * 32]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single line the command printed on stderr, which must be its error."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("callbridge: error: "), err
    return lines[0]


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty directory, as a new user would (the data directory goes there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("which", ["--webhooks-port", "--media-port"])
def test_up_on_a_port_in_use_says_which_and_exits_2(
    which: str, listening_port: int, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ports = {
        "--webhooks-port": str(free_port()),
        "--media-port": str(free_port()),
        which: str(listening_port),
    }

    code = main(["up", "--no-demo", *(item for pair in ports.items() for item in pair)])

    assert code == EXIT_ERROR
    line = one_error_line(capsys)
    assert f"port {listening_port}" in line
    assert which in line


def test_up_with_unreachable_nats_says_so_and_exits_2(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["up", "--no-demo", "--nats-url", f"nats://127.0.0.1:{free_port()}"])

    assert code == EXIT_ERROR
    assert "cannot reach NATS at nats://127.0.0.1:" in one_error_line(capsys)


def test_up_with_nats_without_jetstream_says_so_and_exits_2(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    server = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port)], stderr=subprocess.PIPE)
    try:
        assert server.stderr is not None
        while b"Server is ready" not in server.stderr.readline():
            pass
        code = main(["up", "--no-demo", "--nats-url", f"nats://127.0.0.1:{port}"])
    finally:
        server.terminate()
        server.wait()

    assert code == EXIT_ERROR
    assert "JetStream" in one_error_line(capsys)


def test_up_refuses_insecure_production_settings_in_one_line(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLBRIDGE_ENVIRONMENT", "production")

    code = main(["up", "--no-demo", "--webhooks-port", str(free_port()), "--media-port", str(free_port())])

    assert code == EXIT_ERROR
    assert "CALLBRIDGE_SECRET_KEY" in one_error_line(capsys)


async def test_sim_call_refused_with_403_says_what_to_check(
    fake_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    def forbidden(request: HttpRequest) -> tuple[int, str, str]:
        return 403, "application/json", '{"detail": "invalid X-Twilio-Signature"}'

    fake_server.answer = forbidden

    code = await asyncio.to_thread(
        main, ["sim", "call", "--webhook-url", f"{fake_server.http_url}/hook", *TWILIO]
    )

    assert code == EXIT_ERROR
    line = one_error_line(capsys)
    assert "403" in line
    assert "--auth-token" in line
    assert "CALLBRIDGE_PUBLIC_BASE_URL" in line


async def test_sim_call_to_nothing_says_the_webhook_is_unreachable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"

    code = await asyncio.to_thread(main, ["sim", "call", "--webhook-url", url, *TWILIO])

    assert code == EXIT_ERROR
    assert f"cannot reach {url}" in one_error_line(capsys)


def answer_twiml(fake: FakeServer) -> None:
    def answer(request: HttpRequest) -> tuple[int, str, str]:
        stream = f'<Stream url="{fake.ws_url}/twilio"/>'
        return 200, "text/xml", f"<Response><Connect>{stream}</Connect></Response>"

    fake.answer = answer


@pytest.mark.parametrize(
    ("rate_hz", "channels", "messages"),
    [(16000, 1, ["16000 Hz", "takes 8000 Hz mono"]), (8000, 2, ["2 channels", "mono"])],
)
async def test_sim_call_refuses_a_wav_at_the_wrong_rate_or_not_mono(
    fake_server: FakeServer,
    tmp_path: Path,
    rate_hz: int,
    channels: int,
    messages: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer_twiml(fake_server)
    path = tmp_path / "caller.wav"
    samples = tone(440.0, 0.2, rate_hz)
    write_wav(path, samples, rate_hz)
    if channels == 2:
        with wave.open(str(path), "wb") as writer:
            writer.setnchannels(2)
            writer.setsampwidth(2)
            writer.setframerate(rate_hz)
            writer.writeframes(np.repeat(samples, 2).astype("<i2").tobytes())

    code = await asyncio.to_thread(
        main, ["sim", "call", "--webhook-url", f"{fake_server.http_url}/hook", *TWILIO, "--wav", str(path)]
    )

    assert code == EXIT_ERROR
    line = one_error_line(capsys)
    for message in messages:
        assert message in line


def test_sim_call_telnyx_without_a_seed_points_at_telnyx_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "call", "--provider", "telnyx", "--webhook-url", "http://127.0.0.1:1/hook"])

    assert code == EXIT_ERROR
    line = one_error_line(capsys)
    assert "--private-key-seed" in line
    assert "callbridge sim telnyx-keys" in line
