"""``/api/call_throttles`` and ``?throttle=`` on call creation, against the real service and NATS."""

from __future__ import annotations

import pytest

from tests.webhooks.helpers import Api


async def _throttle(api: Api, name: str, *rules: tuple[int, int]) -> dict[str, object]:
    body = {"name": name, "rules": [{"maxCalls": calls, "windowSeconds": window} for calls, window in rules]}
    answer = await api.client.post("/api/call_throttles", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, object] = answer.json()
    return created


async def test_throttles_are_created_read_renamed_and_deleted(api: Api) -> None:
    throttle = await _throttle(api, "slow", (2, 60))
    path = f"/api/call_throttles/{throttle['throttleId']}"
    assert (await api.client.get(path)).json() == throttle
    taken = await api.client.post(
        "/api/call_throttles", json={"name": "slow", "rules": [{"maxCalls": 1, "windowSeconds": 1}]}
    )
    assert taken.status_code == 409
    renamed = await api.client.patch(path, json={"name": "slower"})
    assert renamed.json()["name"] == "slower"
    await _throttle(api, "slow", (1, 1))  # the old name is free again
    replaced = await api.client.put(
        path, json={"name": "slower", "rules": [{"maxCalls": 5, "windowSeconds": 10}]}
    )
    assert replaced.json()["rules"] == [{"maxCalls": 5, "windowSeconds": 10}]
    listed = (await api.client.get("/api/call_throttles")).json()
    assert listed["total"] == 2
    assert (await api.client.delete(path)).status_code == 204
    assert (await api.client.get(path)).status_code == 404
    assert (await api.client.delete(path)).status_code == 404


@pytest.mark.parametrize(
    "rules",
    [[], [{"maxCalls": 101, "windowSeconds": 1}], [{"maxCalls": 1, "windowSeconds": 0}], [{"maxCalls": 1}]],
)
async def test_bad_rules_are_refused(api: Api, rules: list[dict[str, int]]) -> None:
    answer = await api.client.post("/api/call_throttles", json={"name": "x", "rules": rules})
    assert answer.status_code == 422, answer.text


async def test_a_throttled_call_is_refused_with_retry_after_and_nothing_is_stored(api: Api) -> None:
    throttle = await _throttle(api, "two-a-minute", (2, 60))
    for _ in range(2):
        assert (await api.client.post("/api/calls?throttle=two-a-minute", json={})).status_code == 201
    refused = await api.client.post("/api/calls?throttle=two-a-minute", json={})
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "two-a-minute" in refused.json()["detail"]
    assert (await api.client.get("/api/calls")).json()["total"] == 2
    # By id as well, and on agent calls; an unthrottled call is not counted.
    assert (await api.client.post("/api/calls", json={})).status_code == 201
    agent = (await api.client.post("/api/agents", json={"name": "a"})).json()
    by_id = await api.client.post(
        f"/api/agents/{agent['agentId']}/calls?throttle={throttle['throttleId']}", json={}
    )
    assert by_id.status_code == 429


async def test_an_unknown_throttle_is_a_clear_error(api: Api) -> None:
    answer = await api.client.post("/api/calls?throttle=nope", json={})
    assert answer.status_code == 422
    assert "nope" in answer.json()["detail"]


async def test_an_invalid_call_does_not_use_up_a_start(api: Api) -> None:
    await _throttle(api, "one", (1, 60))
    bad = await api.client.post("/api/calls?throttle=one", json={"recordingEnabled": True})
    assert bad.status_code == 422
    assert (await api.client.post("/api/calls?throttle=one", json={})).status_code == 201
