"""``GET /metrics`` of webhooks: requests counted and timed under their route templates (never an id as a
label), without the API key, in Prometheus's text format."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.webhooks.helpers import Api

UNKNOWN_CALL = "00000000-0000-4000-8000-00000000beef"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_requests_are_counted_by_route_template(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        before = samples((await anonymous.get("/metrics")).text, "callbridge_webhooks_requests_total")
        assert (await api.client.get(f"/api/calls/{UNKNOWN_CALL}")).status_code == 404
        assert (await api.client.get("/api/agents")).status_code == 200
        assert (await anonymous.get("/api/agents")).status_code == 401
        response = await anonymous.get("/metrics")  # no API key needed
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text, "callbridge_webhooks_requests_total")

    def grew(route: str, method: str, status: str) -> float:
        key = (("method", method), ("route", route), ("status", status))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("/api/calls/{call_id}", "GET", "404") == 1
    assert grew("/api/agents", "GET", "200") == 1
    assert grew("/api/agents", "GET", "401") == 1
    assert UNKNOWN_CALL not in response.text
    timings = samples(response.text, "callbridge_webhooks_request_seconds_count")
    assert timings[(("route", "/api/agents"),)] >= 2
    assert "callbridge_webhook_delivery_attempts_total" in response.text
