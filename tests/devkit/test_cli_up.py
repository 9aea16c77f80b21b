"""`callbridge up` as a user runs it in a terminal: a real process, stopped with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callbridge.common.settings import DEV_API_KEY
from callbridge.devkit.nats_server import free_port
from tests.devkit.cli_process import START_TIMEOUT_S, CallbridgeProcess, nats_port, nats_servers_on


@pytest.fixture
def ports() -> list[str]:
    return ["--webhooks-port", str(free_port()), "--media-port", str(free_port())]


@pytest.fixture
def processes() -> Iterator[list[CallbridgeProcess]]:
    started: list[CallbridgeProcess] = []
    yield started
    for process in started:
        process.kill()


def test_ctrl_c_stops_everything_cleanly_and_exits_0(
    ports: list[str], processes: list[CallbridgeProcess], tmp_path: Path
) -> None:
    up = CallbridgeProcess(["up", "--no-demo", *ports], cwd=tmp_path)
    processes.append(up)
    up.wait_up()
    up.wait_for_line("API key")
    port = nats_port(up.output)
    assert nats_servers_on(port), "the private nats-server should be running"

    up.interrupt()
    code = up.wait_exit()

    assert code == 0, up.output
    assert "Traceback" not in up.output
    assert "Error" not in up.output
    assert nats_servers_on(port) == []


def start(processes: list[CallbridgeProcess], cwd: Path, *args: str) -> CallbridgeProcess:
    ports = ["--webhooks-port", str(free_port()), "--media-port", str(free_port())]
    up = CallbridgeProcess(["up", "--no-demo", *ports, *args], cwd=cwd)
    processes.append(up)
    up.wait_up()
    up.wait_for_line("API key")
    return up


def stop(up: CallbridgeProcess) -> None:
    up.interrupt()
    assert up.wait_exit() == 0, up.output


def api_url(up: CallbridgeProcess) -> str:
    match = re.search(r"REST API \+ webhooks\s+(\S+)", up.output)
    assert match is not None, up.output
    return match.group(1)


def agent_names(up: CallbridgeProcess) -> list[str]:
    response = httpx.get(f"{api_url(up)}/api/agents", headers={"X-API-Key": DEV_API_KEY}, timeout=10)
    response.raise_for_status()
    return [agent["name"] for agent in response.json()["results"]]


def create_agent(up: CallbridgeProcess, name: str) -> None:
    response = httpx.post(
        f"{api_url(up)}/api/agents", json={"name": name}, headers={"X-API-Key": DEV_API_KEY}, timeout=10
    )
    response.raise_for_status()


@pytest.mark.slow
def test_agents_are_kept_across_restarts_in_the_data_dir(
    tmp_path: Path, processes: list[CallbridgeProcess]
) -> None:
    first = start(processes, tmp_path)
    create_agent(first, "kept")
    stop(first)

    second = start(processes, tmp_path)

    assert agent_names(second) == ["kept"]
    assert re.search(rf"data directory\s+{re.escape(str(tmp_path / '.callbridge'))}", first.output)
    assert "secret key" not in second.output.lower()
    stop(second)


@pytest.mark.slow
def test_an_ephemeral_run_keeps_nothing_and_leaves_the_data_dir_alone(
    tmp_path: Path, processes: list[CallbridgeProcess]
) -> None:
    first = start(processes, tmp_path, "--ephemeral")
    create_agent(first, "throwaway")
    stop(first)
    assert not (tmp_path / ".callbridge").exists()

    second = start(processes, tmp_path, "--ephemeral")

    assert agent_names(second) == []
    stop(second)


@pytest.mark.slow
def test_another_secret_key_than_the_data_dirs_is_warned_about(
    tmp_path: Path, processes: list[CallbridgeProcess]
) -> None:
    stop(start(processes, tmp_path, "--data-dir", str(tmp_path / "data")))

    second = start(processes, tmp_path, "--data-dir", str(tmp_path / "data"), "--secret-key", "x" * 40)

    warning = second.wait_for_line("warning: the secret key")
    assert "cannot be decrypted" in warning
    stop(second)


def test_a_data_dir_in_use_is_refused_in_one_line(tmp_path: Path, processes: list[CallbridgeProcess]) -> None:
    first = start(processes, tmp_path)
    ports = ["--webhooks-port", str(free_port()), "--media-port", str(free_port())]
    second = CallbridgeProcess(["up", "--no-demo", *ports], cwd=tmp_path)
    processes.append(second)

    assert second.wait_exit() == 2
    assert second.lines == [
        f"callbridge: error: the data directory {tmp_path / '.callbridge'} is in use by another "
        "callbridge up: stop that one, or pass --data-dir DIR or --ephemeral"
    ]
    stop(first)


def test_ctrl_c_during_start_up_stops_at_once(tmp_path: Path, processes: list[CallbridgeProcess]) -> None:
    with socket.socket() as silent_nats:  # accepts connections and never answers: start-up waits on it
        silent_nats.bind(("127.0.0.1", 0))
        silent_nats.listen()
        url = f"nats://127.0.0.1:{silent_nats.getsockname()[1]}"
        up = CallbridgeProcess(["up", "--no-demo", "--nats-url", url], cwd=tmp_path)
        processes.append(up)
        silent_nats.settimeout(START_TIMEOUT_S)
        connection, _ = silent_nats.accept()  # callbridge is starting, waiting for NATS

        with connection:
            up.interrupt()
            code = up.wait_exit()

    # Had Ctrl-C not stopped it, the wait for NATS would have ended in "cannot reach NATS", status 2.
    assert code == 0, up.output
    assert up.lines == ["stopped"]


def test_a_nats_server_left_by_a_killed_run_is_stopped_by_the_next(
    tmp_path: Path, processes: list[CallbridgeProcess]
) -> None:
    first = start(processes, tmp_path)
    create_agent(first, "kept")
    left_over = nats_servers_on(nats_port(first.output))
    first.process.kill()  # SIGKILL to callbridge alone: its nats-server, in its own session, lives on
    first.wait_exit()
    try:
        assert nats_servers_on(nats_port(first.output)) == left_over != []

        second = start(processes, tmp_path)

        assert nats_servers_on(nats_port(first.output)) == []
        assert agent_names(second) == ["kept"]
        stop(second)
    finally:
        for pid in nats_servers_on(nats_port(first.output)):
            os.kill(pid, signal.SIGKILL)  # not to leave it behind when this test fails
