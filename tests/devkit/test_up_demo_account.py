"""Which Twilio API `callbridge up` gives the stack for its outbound demo call: a simulated account only when
nothing else is asked for and no real Twilio credentials are imported."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nats.aio.client import Client

from callbridge.common import buckets
from callbridge.devkit.provision import SIMULATED_ACCOUNT_SID
from callbridge.devkit.up import demo_account


def up_args(**given: Any) -> argparse.Namespace:
    defaults: dict[str, Any] = {
        "no_demo": False,
        "host": "127.0.0.1",
        "media_public_url": None,
        "twilio_api_url": None,
        "telnyx_api_url": None,
        "plivo_api_url": None,
        "exotel_api_url": None,
    }
    return argparse.Namespace(**{**defaults, **given})


async def store_twilio_account(nats_client: Client, account_sid: str) -> None:
    kv = await nats_client.jetstream().create_key_value(bucket=buckets.TELEPHONY_CONFIGS, history=5)
    await kv.put("twilio", json.dumps({"accountSid": account_sid}).encode())


async def test_the_demo_gets_a_simulated_account_when_nothing_else_is_set(
    nats_url: str, clean_jetstream: None
) -> None:
    async with demo_account(up_args(), nats_url) as account:
        assert account is not None
        assert account.base_url is not None
        assert account.base_url.startswith("http://127.0.0.1:")
        assert account.account_sid == SIMULATED_ACCOUNT_SID


async def test_the_demos_own_credentials_imported_before_keep_the_simulated_account(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    await store_twilio_account(nats_client, SIMULATED_ACCOUNT_SID)
    async with demo_account(up_args(), nats_url) as account:
        assert account is not None


async def test_no_simulated_account_without_the_demo_with_a_twilio_api_or_real_credentials(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    async with demo_account(up_args(no_demo=True), nats_url) as account:
        assert account is None
    async with demo_account(up_args(twilio_api_url="http://127.0.0.1:8700"), nats_url) as account:
        assert account is None
    await store_twilio_account(nats_client, "AC" + "1" * 32)
    async with demo_account(up_args(), nats_url) as account:
        assert account is None
