"""The services log in to an authorizing nats-server, refuse to start with wrong credentials (saying which),
and stay alive, though not ready, while NATS is down."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
import pytest
from pydantic import SecretStr

from callbridge.common.nats_auth import NatsCredentials
from callbridge.devkit.nats_server import free_port
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from tests.connections import open_connections
from tests.nats_servers import NATS_PASSWORD, NATS_USER, AuthorizingNats

API_KEY = "nats-auth-api-key-0123456789"
SECRET_KEY = "nats-auth-secret-key-0123456789-0123456789"
WRONG_PASSWORD = "wrong-password-5e1b7c9d"
EXIT_TIMEOUT_S = 30.0


def _http_url(stack: RunningStack) -> str:
    return stack.media_url.replace("ws://", "http://")


async def _status(client: httpx.AsyncClient, url: str) -> int:
    return (await client.get(url)).status_code


@pytest.mark.parametrize("login", ["password", "nkey"])
async def test_the_services_log_in_and_serve_with_the_right_credentials(
    authorizing_nats: AuthorizingNats, login: str
) -> None:
    credentials = authorizing_nats.password_login if login == "password" else authorizing_nats.nkey_login
    config = StackConfig(
        nats_url=authorizing_nats.url, api_key=API_KEY, secret_key=SECRET_KEY, nats_credentials=credentials
    )
    async with run_stack(config) as stack, httpx.AsyncClient(headers={"X-API-Key": API_KEY}) as client:
        for base in (stack.webhooks_url, _http_url(stack)):
            assert await _status(client, f"{base}/readyz") == 200
        response = await client.post(f"{stack.webhooks_url}/api/calls", json={"agentBackend": {"echo": {}}})
        assert response.status_code == 201, response.text  # stored in KV and published through NATS


async def test_liveness_answers_while_nats_is_down_and_readiness_does_not(
    authorizing_nats: AuthorizingNats,
) -> None:
    config = StackConfig(
        nats_url=authorizing_nats.url,
        api_key=API_KEY,
        secret_key=SECRET_KEY,
        nats_credentials=authorizing_nats.password_login,
    )
    async with run_stack(config) as stack, httpx.AsyncClient() as client:
        bases = (stack.webhooks_url, _http_url(stack))
        for base in bases:
            assert await _status(client, f"{base}/livez") == 200
            assert await _status(client, f"{base}/readyz") == 200
        authorizing_nats.server.stop()
        async with asyncio.timeout(10):
            for base in bases:  # each client notices the closed connection on its own
                while await _status(client, f"{base}/readyz") != 503:
                    pass
        for base in bases:
            assert await _status(client, f"{base}/livez") == 200
            assert await _status(client, f"{base}/healthz") == 503  # the alias of /readyz


@pytest.fixture
def service_env(authorizing_nats: AuthorizingNats) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CALLBRIDGE_") and not key.startswith("OTEL_")
    }
    env.update(
        CALLBRIDGE_NATS_URL=authorizing_nats.url,
        CALLBRIDGE_NATS_USER=NATS_USER,
        CALLBRIDGE_SECRET_KEY=SECRET_KEY,
        CALLBRIDGE_API_KEY=API_KEY,
        CALLBRIDGE_PORT=str(free_port()),
        CALLBRIDGE_MEDIA_PORT=str(free_port()),
        CALLBRIDGE_REQUEST_TIMEOUT_S="1",
        CALLBRIDGE_LOG_LEVEL="INFO",
    )
    return env


@pytest.mark.parametrize("service", ["webhooks", "media"])
def test_a_service_with_a_wrong_password_exits_naming_the_credentials(
    service_env: dict[str, str], service: str
) -> None:
    service_env["CALLBRIDGE_NATS_PASSWORD"] = WRONG_PASSWORD
    done = subprocess.run(
        [sys.executable, "-c", f"from callbridge.{service}.main import run; run()"],
        env=service_env,
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT_S,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"refused user '{NATS_USER}'" in output
    assert "Authorization Violation" in output
    assert WRONG_PASSWORD not in output


async def test_the_webhooks_command_logs_in_serves_and_bounds_its_connections(
    service_env: dict[str, str],
) -> None:
    service_env["CALLBRIDGE_NATS_PASSWORD"] = NATS_PASSWORD
    port = int(service_env["CALLBRIDGE_PORT"])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from callbridge.webhooks.main import run; run()",
        env=service_env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        log: list[str] = []
        async with asyncio.timeout(EXIT_TIMEOUT_S):
            while "Application startup complete" not in (line := (await process.stderr.readline()).decode()):
                assert line, "".join(log)  # the process exited before it was up
                log.append(line)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/livez")).status_code == 200
        (idle,) = await open_connections("127.0.0.1", port, 1)
        assert await idle.closed_after_s(5.0) < 3.0  # CALLBRIDGE_REQUEST_TIMEOUT_S=1 reached main.run
    finally:
        process.terminate()
        await process.wait()


def test_credentials_never_show_their_password() -> None:
    credentials = NatsCredentials(user=NATS_USER, password=SecretStr(NATS_PASSWORD))
    assert NATS_PASSWORD not in repr(credentials)
    assert NATS_PASSWORD not in credentials.describe()
