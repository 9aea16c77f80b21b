"""`callbridge up` as a user runs it in a terminal: a real process, stopped with Ctrl-C."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from callbridge.devkit.nats_server import free_port
from tests.devkit.cli_process import CallbridgeProcess, nats_port, nats_servers_on


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
    ports: list[str], processes: list[CallbridgeProcess]
) -> None:
    up = CallbridgeProcess(["up", "--no-demo", *ports])
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
