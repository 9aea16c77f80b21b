"""Malformed provider frames on a live call, on every provider: each is counted and skipped."""

from __future__ import annotations

from typing import Any

import pytest

from callbridge.common.events import CallEnded, MediaFramesRejected
from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import tone
from callbridge.devkit.stack import RunningStack
from tests.e2e.helpers import create_call, events_of
from tests.e2e.provider_client import CODECS, ProviderClient, provider_client

TONE_HZ = 1000.0


def _media_with(client: ProviderClient, **media: Any) -> dict[str, Any]:
    """A valid media message of this stream with fields of its ``media`` object replaced."""
    message = client.media_message(tone(TONE_HZ, 0.02, client.codec.sample_rate_hz, -20.0))
    message["media"].update(media)
    return message


BAD_MEDIA: dict[str, dict[str, Any]] = {
    "non_ascii_payload": {"payload": "é"},
    "non_ascii_base64_payload": {"payload": "AAAA\u00e9AAA"},
    "track_object": {"track": {}, "payload": ""},
    "track_list": {"track": [1], "payload": ""},
}


@pytest.mark.parametrize("case", sorted(BAD_MEDIA))
@pytest.mark.parametrize("provider", list(Provider))
async def test_a_malformed_media_frame_is_skipped_and_the_call_goes_on(
    stack: RunningStack, nats_url: str, provider: Provider, case: str
) -> None:
    rate = CODECS[provider].sample_rate_hz
    call = await create_call(stack, {"agentBackend": {"echo": {"sampleRate": rate}}})
    async with provider_client(call["joinUrl"], provider) as client:
        await client.send(_media_with(client, **BAD_MEDIA[case]))
        await client.assert_echoes()
        assert not client.closed
        await client.stop()
    events = await events_of(nats_url, call["callId"])
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup", ended.detail
    assert ended.rejected_frames == 1
    rejected = [e for e in events if isinstance(e, MediaFramesRejected)]
    assert len(rejected) == ended.rejected_frames


RAW_FRAMES: dict[str, tuple[bytes, bool]] = {
    "non_utf8_text": (b'{"event":"media","media":{"payload":"\xff\xfe"}}', True),
    "non_utf8_text_not_json": (b"\xc3\x28\xa0\xa1\xe2\x28\xa1", True),
    "binary_garbage": (bytes(range(256)), False),
    "empty_text": (b"", True),
}


@pytest.mark.parametrize("case", sorted(RAW_FRAMES))
@pytest.mark.parametrize("provider", list(Provider))
async def test_a_frame_that_is_not_utf8_json_is_skipped_and_the_call_goes_on(
    stack: RunningStack, nats_url: str, provider: Provider, case: str
) -> None:
    rate = CODECS[provider].sample_rate_hz
    call = await create_call(stack, {"agentBackend": {"echo": {"sampleRate": rate}}})
    data, text = RAW_FRAMES[case]
    async with provider_client(call["joinUrl"], provider) as client:
        await client.send(data, text=text)
        await client.assert_echoes()
        await client.stop()
    ended = (await events_of(nats_url, call["callId"]))[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup", ended.detail
    assert ended.rejected_frames == 1
