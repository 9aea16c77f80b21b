"""Every route of the app, whatever it is sent, answers with a 2xx or a specific 4xx that has a ``detail``:
never a 5xx, never a dropped connection. The routes are read from the app, so a route added later is covered
without being listed here."""

from __future__ import annotations

import re
from uuid import uuid4

import httpx
import pytest

from callbridge.webhooks.main import create_app
from tests.webhooks.helpers import API_KEY, Api, settings_for
from tests.webhooks.hostile import GENERIC_BODIES, HostileBody, RouteCase, field_bodies, route_cases
from tests.webhooks.providers import CONFIGS, EXOTEL_SECRET, create_agent, import_config

APP_ROUTES = route_cases(create_app(settings_for("nats://127.0.0.1:4222", 0)))

GARBAGE_PATH_VALUES = ("not-a-uuid", "%FF%00%2F..", "x" * 3000)
_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")


def test_the_route_list_is_read_from_the_app() -> None:
    ids = {case.id for case in APP_ROUTES}
    assert {
        "POST /api/calls",
        "GET /api/calls/{call_id}",
        "POST /api/agents/{agent_id}/telephony_xml",
        "POST /api/telephony/{provider}/status",
        "PATCH /api/telephony_configs/exotel",
    } <= ids
    assert len(ids) >= 40


async def _valid_path_values(api: Api) -> dict[str, str]:
    agent_id = await create_agent(api, {"systemPrompt": "hello"})
    for provider in CONFIGS:
        await import_config(api, provider, agent_id)
    call = await api.client.post(f"/api/agents/{agent_id}/calls", json={})
    assert call.status_code == 201, call.text
    return {
        "agent_id": agent_id,
        "call_id": call.json()["callId"],
        "provider": "telnyx",  # the provider whose callbacks may be JSON: the most parsing
        "webhook_secret": EXOTEL_SECRET,
        "name": "swagger-ui.css",  # /docs/assets/{name}
    }


def _filled_paths(template: str, valid: dict[str, str]) -> list[tuple[str, str]]:
    """The path with valid values (unknown parameters get a fresh UUID), then with each garbage value."""
    if not _PARAMETER.search(template):
        return [("valid", template)]
    filled = [("valid", _PARAMETER.sub(lambda m: valid.get(m.group(1), str(uuid4())), template))]
    filled += [(f"garbage {g[:12]!r}", _PARAMETER.sub(g, template)) for g in GARBAGE_PATH_VALUES]
    return filled


def _problem(method: str, response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return f"answered {response.status_code}: {response.text[:200]}"
    if response.status_code >= 400 and method != "HEAD":
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            return f"answered {response.status_code} without a JSON body: {response.text[:200]!r}"
        if not detail:
            return f"answered {response.status_code} without a detail: {response.text[:200]}"
    return None


@pytest.mark.parametrize("case", APP_ROUTES, ids=lambda case: case.id)
async def test_every_route_answers_hostile_requests_with_a_2xx_or_a_clear_4xx(
    api: Api, case: RouteCase
) -> None:
    valid = await _valid_path_values(api)
    bodies: list[HostileBody] = [*GENERIC_BODIES, *field_bodies(api.app.openapi(), case)]
    failures: list[str] = []
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as client:
        for fill, path in _filled_paths(case.path, valid):
            for body in bodies:
                for with_key in (True, False) if fill == "valid" else (True,):
                    headers = body.headers() | ({"X-API-Key": API_KEY} if with_key else {})
                    label = f"{case.method} {path[:80]} [{body.name}, {'key' if with_key else 'no key'}]"
                    try:
                        response = await client.request(
                            case.method, path, content=body.stream(), headers=headers
                        )
                    except httpx.HTTPError as exc:
                        failures.append(f"{label}: no answer ({exc!r})")
                        continue
                    problem = _problem(case.method, response)
                    if problem is not None:
                        failures.append(f"{label}: {problem}")
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures)
