"""``/api/agents/{agentId}/scheduled_batches`` against the real service and NATS: create, read, list, page
through calls, pause and resume, delete, and the refusals (window too short, webhookUrl rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nats.aio.client import Client

from callbridge.common import buckets
from callbridge.common.batch_store import CHUNK_MAX_CALLS
from tests.webhooks.helpers import Api
from tests.webhooks.providers import create_agent, import_config


def _dialed(number: int) -> dict[str, Any]:
    return {
        "medium": {"twilio": {"outgoing": {"to": f"+1555{number:07d}", "from": "+15550000000"}}},
        "templateContext": {"n": number},
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _agent(api: Api, **limits: int) -> str:
    """An agent whose batches may dial through the imported Twilio account."""
    agent_id = await create_agent(api)
    await import_config(api, "twilio", agent_id, **limits)
    return agent_id


async def _batch(api: Api, agent_id: str, **fields: Any) -> dict[str, Any]:
    body = {"calls": [_dialed(0), _dialed(1)], **fields}
    answer = await api.client.post(f"/api/agents/{agent_id}/scheduled_batches", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def test_a_batch_is_created_read_listed_paused_resumed_and_deleted(api: Api) -> None:
    agent_id = await _agent(api)
    batch = await _batch(api, agent_id, priority=5, retry={"maxAttempts": 2, "backoff": "30s"})
    assert batch["totalCount"] == 2
    assert batch["completedCount"] == 0
    assert batch["statusCounts"]["FUTURE"] == 2
    assert batch["paused"] is False
    assert batch["endedAt"] is None
    assert batch["retry"] == {
        "maxAttempts": 2,
        "retryOn": ["busy", "no-answer", "failed"],
        "backoff": "30s",
        "backoffMultiplier": 2.0,
    }
    assert "calls" not in batch  # write-only
    path = f"/api/agents/{agent_id}/scheduled_batches/{batch['batchId']}"
    assert (await api.client.get(path)).json() == batch
    second = await _batch(api, agent_id)
    listed = (await api.client.get(f"/api/agents/{agent_id}/scheduled_batches")).json()
    assert [b["batchId"] for b in listed["results"]] == [second["batchId"], batch["batchId"]]
    assert listed["total"] == 2

    paused = (await api.client.patch(path, json={"paused": True})).json()
    assert paused["paused"] is True
    resumed = (await api.client.patch(path, json={"paused": False})).json()
    assert resumed["paused"] is False
    assert resumed["pausedReason"] is None

    assert (await api.client.delete(path)).status_code == 204
    assert (await api.client.get(path)).status_code == 404
    assert (await api.client.delete(path)).status_code == 404
    listed = (await api.client.get(f"/api/agents/{agent_id}/scheduled_batches")).json()
    assert [b["batchId"] for b in listed["results"]] == [second["batchId"]]


async def test_a_batch_of_another_agent_is_not_found(api: Api) -> None:
    agent_id = await _agent(api)
    other = await create_agent(api)
    batch = await _batch(api, agent_id)
    answer = await api.client.get(f"/api/agents/{other}/scheduled_batches/{batch['batchId']}")
    assert answer.status_code == 404


async def test_scheduled_calls_are_paged_in_batch_order_across_chunks_and_filtered_by_status(
    api: Api, nats_client: Client
) -> None:
    agent_id = await _agent(api)
    count = CHUNK_MAX_CALLS * 2 + 10
    body = {"calls": [_dialed(n) for n in range(count)]}
    answer = await api.client.post(f"/api/agents/{agent_id}/scheduled_batches", json=body)
    assert answer.status_code == 201, answer.text
    batch_id = answer.json()["batchId"]
    kv = await nats_client.jetstream().key_value(buckets.BATCHES)
    chunk_keys = [key for key in await kv.keys() if key.startswith(f"c.{batch_id.replace('-', '')}.")]
    assert len(chunk_keys) == 3  # no batch is one huge record

    url: str | None = f"/api/agents/{agent_id}/scheduled_batches/{batch_id}/scheduled_calls?pageSize=100"
    seen: list[int] = []
    while url is not None:
        page = (await api.client.get(url)).json()
        assert page["total"] == count
        seen += [call["index"] for call in page["results"]]
        assert all(call["status"] == "FUTURE" for call in page["results"])
        url = page["next"]
    assert seen == list(range(count))

    none = await api.client.get(
        f"/api/agents/{agent_id}/scheduled_batches/{batch_id}/scheduled_calls?status=SUCCESS"
    )
    assert none.json() == {"results": [], "next": None, "previous": None, "total": 0}
    created = await api.client.get(f"/api/agents/{agent_id}/scheduled_batches/{batch_id}/created_calls")
    assert created.json()["results"] == []


async def test_a_window_too_short_for_the_account_is_refused_with_the_estimated_minimum(api: Api) -> None:
    # 2 lines, 1 kept for inbound calls: 1 outbound call at a time, 60 s each by default.
    agent_id = await _agent(api, maxConcurrentCalls=2, reservedInboundCalls=1)
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    body = {
        "windowStart": _iso(start),
        "windowEnd": _iso(start + timedelta(minutes=5)),
        "calls": [_dialed(n) for n in range(10)],  # 10 calls x 60 s on one line: 600 s
    }
    answer = await api.client.post(f"/api/agents/{agent_id}/scheduled_batches", json=body)
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    assert "600s of calling time" in detail
    assert "300s" in detail
    assert _iso(start + timedelta(seconds=601)) in detail
    body["windowEnd"] = _iso(start + timedelta(minutes=11))
    answer = await api.client.post(f"/api/agents/{agent_id}/scheduled_batches", json=body)
    assert answer.status_code == 201, answer.text


async def test_a_throttle_bounds_the_window_estimate(api: Api) -> None:
    agent_id = await _agent(api)
    throttle = await api.client.post(
        "/api/call_throttles", json={"name": "one-a-minute", "rules": [{"maxCalls": 1, "windowSeconds": 60}]}
    )
    assert throttle.status_code == 201
    body = {
        "throttle": "one-a-minute",
        "windowEnd": _iso(datetime.now(UTC) + timedelta(minutes=3)),
        "calls": [_dialed(n) for n in range(5)],
    }
    answer = await api.client.post(f"/api/agents/{agent_id}/scheduled_batches", json=body)
    assert answer.status_code == 400
    assert "300s of calling time" in answer.json()["detail"]
    unknown = await api.client.post(
        f"/api/agents/{agent_id}/scheduled_batches", json={**body, "throttle": "nope"}
    )
    assert unknown.status_code == 422


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"calls": []}, "at least 1"),
        ({"calls": [{"medium": {"twilio": {}}}]}, "webhookUrl is required"),
        ({"calls": [_dialed(0)], "webhookUrl": "https://example.test/hook"}, "only allowed"),
        ({"calls": [{**_dialed(0), "timeZone": "Mars/Olympus"}]}, "IANA time zone"),
        ({"calls": [_dialed(0)], "callingHours": {"days": ["FUNDAY"]}}, "unknown day"),
        ({"calls": [_dialed(0)], "windowEnd": "2026-01-01T00:00:00"}, "time zone offset"),
        (
            {
                "calls": [_dialed(0)],
                "windowStart": "2026-01-02T00:00:00Z",
                "windowEnd": "2026-01-01T00:00:00Z",
            },
            "after windowStart",
        ),
        ({"calls": [_dialed(0)], "retry": {"maxAttempts": 0}}, "greater than or equal to 1"),
        ({"calls": [_dialed(0)], "retry": {"backoff": "-5s"}}, "negative"),
        ({"calls": [_dialed(0)], "autoPause": {"failureRate": 0}}, "greater than 0"),
        ({"calls": [_dialed(0)], "priority": 1000}, "less than or equal to 100"),
        (
            {"calls": [{**_dialed(0), "experimentalSettings": {"x": 1}}]},
            "experimentalSettings is not supported",
        ),
    ],
)
async def test_bad_batches_are_refused_with_the_reason(api: Api, fields: dict[str, Any], why: str) -> None:
    agent_id = await _agent(api)
    answer = await api.client.post(f"/api/agents/{agent_id}/scheduled_batches", json=fields)
    assert answer.status_code == 422, answer.text
    assert why in answer.text


async def test_the_webhook_secret_is_answered_as_a_prefix_only(api: Api) -> None:
    agent_id = await _agent(api)
    secret = "s3cret-webhook-key-0123456789"
    batch = await _batch(
        api,
        agent_id,
        calls=[{"medium": {"twilio": {}}}],
        webhookUrl="https://example.test/hook",
        webhookSecret=secret,
    )
    assert batch["webhookSecret"] != secret
    assert secret.startswith(batch["webhookSecret"].rstrip("…*."))
    assert secret not in (await api.client.get(f"/api/agents/{agent_id}/scheduled_batches")).text


async def test_a_dialed_call_needs_its_providers_credentials_imported(api: Api) -> None:
    agent_id = await create_agent(api)
    answer = await api.client.post(f"/api/agents/{agent_id}/scheduled_batches", json={"calls": [_dialed(0)]})
    assert answer.status_code == 422
    assert "calls[0]: medium.twilio.outgoing: no Twilio credentials are imported" in answer.json()["detail"]


async def test_a_batch_for_an_unknown_agent_is_not_found(api: Api) -> None:
    answer = await api.client.post(
        "/api/agents/00000000-0000-4000-8000-000000000000/scheduled_batches", json={"calls": [_dialed(0)]}
    )
    assert answer.status_code == 404
