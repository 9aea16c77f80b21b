"""The commands' options as a new user meets them: --help and --version everywhere, help on every option,
secrets that start with '-', and a Telnyx key pair for the simulator."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from callbridge.devkit.cli import build_parser, main, parse_args
from callbridge.devkit.nats_server import free_port
from callbridge.devkit.simulators.telnyx import TelnyxSimulator

BIN = Path(sys.executable).parent
SERVICE_TIMEOUT_S = 20.0


def subcommand(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == "callbridge 0.1.0"


@pytest.mark.parametrize("path", [("up",), ("sim", "call"), ("sim", "telnyx-keys")])
def test_every_option_has_help_text(path: tuple[str, ...]) -> None:
    parser = subcommand(build_parser(), *path)

    undocumented = [a.option_strings for a in parser._actions if a.option_strings and not a.help]

    assert undocumented == []


@pytest.mark.parametrize("form", [["--webhook-secret", "-abc"], ["--webhook-secret=-abc"]])
def test_a_webhook_secret_starting_with_a_dash_is_taken_as_the_value(form: list[str]) -> None:
    args = parse_args(["sim", "call", "--provider", "exotel", "--webhook-url", "http://x/hook", *form])

    assert args.webhook_secret == "-abc"
    assert args.provider == "exotel"


def test_a_missing_secret_value_is_still_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sim", "call", "--webhook-url", "http://x/hook", "--webhook-secret", "--provider", "exotel"])

    assert exited.value.code == 2
    assert "--webhook-secret: expected one argument" in capsys.readouterr().err


def test_telnyx_keys_prints_a_seed_and_its_public_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "telnyx-keys"]) == 0

    values = dict(
        line.split(None, 1) for line in capsys.readouterr().out.splitlines() if line.startswith("  --")
    )
    seed, public_key = values["--private-key-seed"], values["--public-key"]
    assert len(seed) == 64
    assert TelnyxSimulator("http://x", private_key=seed).public_key_base64 == public_key
    assert main(["sim", "telnyx-keys"]) == 0
    assert seed not in capsys.readouterr().out  # a fresh pair every time


def run_service(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    # Free ports, so that a service that (wrongly) starts serving collides with nothing.
    env = {**os.environ, "CALLBRIDGE_PORT": str(free_port()), "CALLBRIDGE_MEDIA_PORT": str(free_port())}
    return subprocess.run(
        [str(BIN / command), *args], capture_output=True, text=True, env=env, timeout=SERVICE_TIMEOUT_S
    )


@pytest.mark.parametrize(
    ("command", "variables"),
    [
        ("callbridge-webhooks", ["CALLBRIDGE_PORT", "CALLBRIDGE_PUBLIC_BASE_URL", "CALLBRIDGE_SECRET_KEY"]),
        ("callbridge-media", ["CALLBRIDGE_MEDIA_PORT", "CALLBRIDGE_MAX_CALLS", "CALLBRIDGE_SECRET_KEY"]),
    ],
)
def test_services_print_help_on_their_environment_instead_of_serving(
    command: str, variables: list[str]
) -> None:
    result = run_service(command, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {command}")
    for variable in variables:
        assert variable in result.stdout
    assert "cb-dev-secret" not in result.stdout  # secret defaults are not printed


@pytest.mark.parametrize("command", ["callbridge-webhooks", "callbridge-media"])
def test_services_print_their_version(command: str) -> None:
    result = run_service(command, "--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{command} 0.1.0"


@pytest.mark.parametrize("command", ["callbridge-webhooks", "callbridge-media"])
def test_services_refuse_production_placeholders_in_one_line(command: str) -> None:
    env = {
        **os.environ,
        "CALLBRIDGE_ENVIRONMENT": "production",
        "CALLBRIDGE_SECRET_KEY": "changeme",
        "CALLBRIDGE_PORT": str(free_port()),
        "CALLBRIDGE_MEDIA_PORT": str(free_port()),
    }
    result = subprocess.run(
        [str(BIN / command)], capture_output=True, text=True, env=env, timeout=SERVICE_TIMEOUT_S
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"{command}: error: CALLBRIDGE_SECRET_KEY must be set to a real secret")
