"""The OpenAPI document describes every route, parameter and field, lists each route's error answers with
their body, has readable titles; ``/docs`` is served offline, its assets by the service itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

from tests.webhooks.helpers import Api

ERROR_SCHEMAS = {"#/components/schemas/ErrorBody", "#/components/schemas/ValidationErrorBody"}
_GENERATED_TITLE = re.compile(r"^(Body_|Response )")


async def _openapi(api: Api) -> dict[str, Any]:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


async def test_every_operation_and_parameter_has_a_description(api: Api) -> None:
    document = await _openapi(api)
    missing = [name for name, op in _operations(document) if not op.get("description", "").strip()]
    missing += [
        f"{name} parameter {parameter['name']}"
        for name, op in _operations(document)
        for parameter in op.get("parameters", [])
        if not parameter.get("description", "").strip()
    ]
    assert missing == []


async def test_every_schema_property_has_a_description(api: Api) -> None:
    schemas = (await _openapi(api))["components"]["schemas"]
    missing = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description", "").strip()
    ]
    missing += [name for name, schema in schemas.items() if not schema.get("description", "").strip()]
    assert missing == []


async def test_titles_are_written_not_generated(api: Api) -> None:
    document = await _openapi(api)
    generated = sorted(
        set(re.findall(r'"title": ?"((?:Body_|Response )[^"]*)"', str(document).replace("'", '"')))
    )
    generated += [name for name in document["components"]["schemas"] if _GENERATED_TITLE.match(name)]
    assert generated == []


async def test_every_operation_lists_its_error_answers_with_their_body(api: Api) -> None:
    problems = []
    for name, operation in _operations(await _openapi(api)):
        responses = operation["responses"]
        expected = set()
        if operation.get("security"):
            expected |= {"401", "403"}
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            expected |= {"404", "422"}
        if name.startswith(("POST", "PATCH", "PUT")):
            expected |= {"400", "413", "422"}
        if operation.get("parameters"):
            expected.add("422")
        if expected - responses.keys():
            problems.append(f"{name} lists no {sorted(expected - responses.keys())}")
        for code, answer in responses.items():
            if code.startswith("4"):
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                if schema.get("$ref") not in ERROR_SCHEMAS:
                    problems.append(f"{name} {code} has no error body: {answer}")
            if not answer.get("description", "").strip():
                problems.append(f"{name} {code} has no description")
    assert problems == []


async def test_conflicts_are_listed_where_they_happen(api: Api) -> None:
    paths = (await _openapi(api))["paths"]
    assert "409" in paths["/api/calls/{call_id}"]["delete"]["responses"]
    assert "409" in paths["/api/calls/{call_id}"]["get"]["responses"]  # a record that cannot be read
    assert "409" in paths["/api/agents/{agent_id}"]["get"]["responses"]
    for provider in ("twilio", "telnyx", "plivo", "exotel"):
        assert "409" in paths[f"/api/telephony_configs/{provider}"]["post"]["responses"]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


async def test_docs_work_offline_with_assets_served_by_the_service(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert re.findall(r"(?:https?:)?//[\w.-]+", page.text) == []  # no CDN, no external anything
    parser = _Links()
    parser.feed(page.text)
    assert any(url.endswith(".js") for url in parser.urls)
    assert any(url.endswith(".css") for url in parser.urls)
    for url in parser.urls:
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    assert "/openapi.json" in page.text
    redoc = await api.client.get("/redoc")
    assert redoc.status_code == 404 or re.findall(r"(?:https?:)?//[\w.-]+", redoc.text) == []
