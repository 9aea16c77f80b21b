"""`callbridge sim account` run as a user runs it: a process that prints its API URL and the credentials to
import, places the calls callbridge's REST client dials through it (printing each step), stops on Ctrl-C
with status 0, and refuses what it cannot use in one line with status 2."""

from __future__ import annotations

import json
import re
import socket
import uuid

import pytest

from callbridge.common.models.medium import Provider
from callbridge.common.secrets import SecretBox
from callbridge.telephony import DialRequest, TelephonyApiSettings, provider_for
from tests.devkit.cli_process import CallbridgeProcess

API_LINE = re.compile(r"its API is at (http://127\.0\.0\.1:\d+)")
SECRET_KEY = "sim-account-cli-secret-key-0123456789"


@pytest.mark.parametrize("provider", [Provider.TWILIO, Provider.PLIVO], ids=["twilio", "plivo"])
async def test_sim_account_prints_its_url_and_credentials_places_calls_and_stops_on_ctrl_c(
    provider: Provider,
) -> None:
    process = CallbridgeProcess(
        ["sim", "account", "--provider", provider.value, "--port", "0", "--script", "+15550001111=busy"]
    )
    try:
        match = API_LINE.search(process.wait_for_line("its API is at"))
        assert match is not None
        api_url = match.group(1)
        process.wait_for_line("POST /api/telephony_configs/")
        credentials = json.loads(process.wait_for_line("{"))
        process.wait_for_line("press Ctrl-C to stop")
        box = SecretBox(SECRET_KEY)
        plugin = provider_for(provider)
        config = plugin.credentials.stored.from_create(
            plugin.credentials.create.model_validate(credentials), box.encrypt
        )
        settings = TelephonyApiSettings.model_validate({f"{provider.value}_api_url": api_url})
        async with plugin.rest_client(config, box.decrypt, settings) as client:
            await client.dial(
                DialRequest(
                    call_id=uuid.uuid4(),
                    to="+15550001111",
                    from_="+15550002222",
                    join_url="wss://media.example.com/join",
                    status_callback_url="http://127.0.0.1:9/status",  # nothing listens: callbacks are lost
                    answer_url="http://127.0.0.1:9/answer",
                )
            )
        assert "+15550001111: dialed" in process.wait_for_line("dialed")
        assert "ended busy" in process.wait_for_line("ended")
        process.interrupt()
        assert process.wait_exit() == 0
        assert "stopping" in process.output
        assert "Traceback" not in process.output
    finally:
        process.kill()


def test_sim_account_refuses_a_script_it_cannot_read_in_one_line() -> None:
    process = CallbridgeProcess(["sim", "account", "--provider", "telnyx", "--script", "+1555=voicemail"])
    try:
        assert process.wait_exit() == 2
        assert process.lines == [
            "callbridge: error: --script: unknown behaviour 'voicemail'; known: answers_and_speaks, "
            "answers_silent, phone_menu, busy, no_answer, fails, rate_limited, answers_after"
        ]
    finally:
        process.kill()


def test_sim_account_says_which_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = CallbridgeProcess(["sim", "account", "--provider", "exotel", "--port", str(port)])
        try:
            assert process.wait_exit() == 2
            (line,) = process.lines
            assert line.startswith(f"callbridge: error: port {port} on 127.0.0.1 is in use (--port)")
        finally:
            process.kill()
