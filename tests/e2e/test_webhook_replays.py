"""A captured Twilio webhook replayed after its call was joined yields no call; the provider's own retries
and a flow that streams again still work. Twilio signs no timestamp, so this rests on what callbridge
remembers: the signatures it answered (24 hours) and when it first saw each provider call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import orjson
from nats.aio.client import Client

from callbridge.common import buckets
from callbridge.common.models.medium import Provider
from callbridge.common.models.provider_calls import provider_call_key, replay_key
from callbridge.devkit.provision import provision_twilio_agent
from callbridge.devkit.signals import tone
from callbridge.devkit.simulators.twilio import SIGNATURE_HEADER, TwilioSimulator, new_sid
from callbridge.devkit.simulators.twiml import TwiMLAnswer, parse_twiml
from callbridge.devkit.stack import RunningStack

RATE_HZ = 8000


@dataclass(frozen=True)
class CapturedWebhook:
    """A signed incoming-call request exactly as it went over the wire, to be sent again."""

    url: str
    call_sid: str
    body: bytes
    signature: str

    async def send(self) -> httpx.Response:
        headers = {SIGNATURE_HEADER: self.signature, "Content-Type": "application/x-www-form-urlencoded"}
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.url, content=self.body, headers=headers)


def capture(simulator: TwilioSimulator, call_sid: str, **extra: str) -> CapturedWebhook:
    params = simulator.incoming_call_params(
        call_sid=call_sid, from_number="+15550001111", to_number="+15550002222", extra_params=extra
    )
    url = simulator.webhook_url
    return CapturedWebhook(url, call_sid, urlencode(params).encode(), simulator.sign(url, params))


def answer_of(response: httpx.Response, webhook: CapturedWebhook) -> TwiMLAnswer:
    assert response.status_code == 200, response.text
    return parse_twiml(
        response.text, call_sid=webhook.call_sid, webhook_url=webhook.url, allow_insecure_ws=True
    )


async def call_total(stack: RunningStack) -> int:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        return int((await api.get("/api/calls")).json()["total"])


async def echo_agent_simulator(stack: RunningStack) -> TwilioSimulator:
    provisioned = await provision_twilio_agent(
        stack.webhooks_url, stack.api_key, stack.public_base_url, call_template={"agentBackend": {"echo": {}}}
    )
    return TwilioSimulator(
        provisioned.webhook_url, provisioned.auth_token, provisioned.account_sid, allow_insecure_ws=True
    )


async def joined_and_hung_up(simulator: TwilioSimulator, answer: TwiMLAnswer) -> None:
    recording = await simulator.stream(answer, tone(440.0, 0.3, RATE_HZ, -10.0), tail_s=0.0)
    assert recording.ended_by == "simulator"
    assert len(recording.outbound_media_bytes) >= 5  # the echo agent answered: the call was joined


async def test_a_replayed_twilio_webhook_never_yields_a_call_but_retries_and_second_streams_do(
    stack: RunningStack,
) -> None:
    simulator = await echo_agent_simulator(stack)
    first = capture(simulator, new_sid("CA"))
    answer = answer_of(await first.send(), first)
    # Twilio retrying before it used our answer: the same call and join URL.
    assert answer_of(await first.send(), first).stream_url == answer.stream_url
    await joined_and_hung_up(simulator, answer)

    replayed = await first.send()
    assert replayed.status_code == 403
    assert "replayed" in replayed.json()["detail"]
    assert await call_total(stack) == 1

    # The same provider call running the stream verb again sends a request of its own (Twilio's
    # CallStatus is in-progress now): a new call, which streams.
    second = capture(simulator, first.call_sid, CallStatus="in-progress")
    again = answer_of(await second.send(), second)
    assert again.stream_url != answer.stream_url
    await joined_and_hung_up(simulator, again)
    assert (await second.send()).status_code == 403
    assert (await first.send()).status_code == 403
    assert await call_total(stack) == 2


async def test_a_replay_outliving_its_signature_record_is_refused_by_the_provider_calls_age(
    stack: RunningStack, nats_client: Client
) -> None:
    simulator = await echo_agent_simulator(stack)
    captured = capture(simulator, new_sid("CA"))
    await joined_and_hung_up(simulator, answer_of(await captured.send(), captured))
    # A day on: the signature's record has expired (the replay bucket's TTL) and the provider call was
    # first seen more than 24 hours ago. Both are set here as that day would leave them.
    js = nats_client.jetstream()
    replays = await js.key_value(buckets.WEBHOOK_REPLAYS)
    await replays.delete(replay_key(Provider.TWILIO, captured.signature.encode()))
    links = await js.key_value(buckets.PROVIDER_CALLS)
    key = provider_call_key(Provider.TWILIO, captured.call_sid)
    entry = await links.get(key)
    assert entry.value is not None
    link = orjson.loads(entry.value)
    link["firstSeen"] = (datetime.now(UTC) - buckets.WEBHOOK_REPLAYS_TTL - timedelta(minutes=1)).isoformat()
    await links.put(key, orjson.dumps(link))

    replayed = await captured.send()
    assert replayed.status_code == 403
    assert "24 hours" in replayed.json()["detail"]
    other = capture(simulator, captured.call_sid, CallStatus="in-progress")
    assert (await other.send()).status_code == 403  # whatever its signature: no Twilio call lasts a day
    assert await call_total(stack) == 1
