"""Hostile requests for every route of the webhooks app: which routes exist (read from the app itself, so a
route added later is covered without anyone listing it), how to fill their path parameters, and the bodies an
attacker sends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from starlette.routing import BaseRoute, Mount

MIB = 1024 * 1024
DEEP_LEVELS = 30_000
FIELD_DEEP_LEVELS = (40, 300)
"""Past the free-form field limit but within the body's, and past both."""
HUGE_STRING_CHARS = 300_000

FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class RouteCase:
    method: str
    path: str
    """The path template, e.g. ``/api/agents/{agent_id}/calls``."""

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class HostileBody:
    name: str
    content: bytes | None = None
    content_type: str | None = JSON_TYPE
    chunks: tuple[bytes, ...] = field(default=())
    """Sent chunked (no Content-Length) when set."""

    def headers(self) -> dict[str, str]:
        return {} if self.content_type is None else {"content-type": self.content_type}

    def stream(self) -> AsyncIterator[bytes] | bytes | None:
        if not self.chunks:
            return self.content

        async def chunked() -> AsyncIterator[bytes]:
            for chunk in self.chunks:
                yield chunk

        return chunked()


def route_cases(app: FastAPI) -> list[RouteCase]:
    """Every (method, path) the app serves, included routers and mounts flattened."""
    cases: list[RouteCase] = []
    for route in _flat_routes(app):
        path = getattr(route, "path", None)
        if isinstance(route, Mount) or getattr(route, "methods", None) is None:
            cases.extend(RouteCase(method, f"{path}/anything") for method in ("GET", "POST"))
            continue
        cases.extend(RouteCase(method, str(path)) for method in sorted(getattr(route, "methods", ())))
    return sorted(set(cases), key=lambda case: (case.path, case.method))


def _flat_routes(app: FastAPI) -> Iterator[Any]:
    # FastAPI >= 0.16x keeps included routers as one entry each; iter_route_contexts flattens them.
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    routes: list[BaseRoute] = list(app.routes)
    if iterate is None:
        yield from routes
    else:
        yield from iterate(routes)


def nested_json(levels: int, *, leaf: bytes = b"1") -> bytes:
    return b'{"a":' * levels + leaf + b"}" * levels


def nested_value(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _big_json(size: int, *, agent: bool = False) -> bytes:
    """A valid call definition (or agent) whose system prompt makes it ``size`` bytes."""
    prompt = b'{"systemPrompt": "' + b"x" * size + b'"}'
    return b'{"name": "big", "callTemplate": ' + prompt + b"}" if agent else prompt


BIG_2MB = _big_json(2 * MIB)
BIG_20MB = _big_json(20 * MIB)

GENERIC_BODIES: tuple[HostileBody, ...] = (
    HostileBody("no body", None, None),
    HostileBody("empty JSON body", b""),
    HostileBody("not JSON", b"this is { not json"),
    HostileBody("JSON null", b"null"),
    HostileBody("JSON array", b"[1, 2, 3]"),
    HostileBody("JSON string", b'"hello"'),
    HostileBody("JSON number", b"42"),
    HostileBody("JSON without content type", b'{"name": "x"}', None),
    HostileBody("JSON as text/plain", b'{"name": "x"}', "text/plain"),
    HostileBody("2 MB body", BIG_2MB),
    HostileBody("2 MB agent", _big_json(2 * MIB, agent=True)),
    HostileBody("20 MB body", BIG_20MB),
    HostileBody("1000 kB body", _big_json(1000 * 1024)),
    HostileBody("1000 kB agent", _big_json(1000 * 1024, agent=True)),
    HostileBody(
        "2 MB chunked body",
        None,
        JSON_TYPE,
        tuple(BIG_2MB[i : i + MIB // 4] for i in range(0, len(BIG_2MB), MIB // 4)),
    ),
    HostileBody("30000-deep object", nested_json(DEEP_LEVELS)),
    HostileBody("30000-deep array", b"[" * DEEP_LEVELS + b"]" * DEEP_LEVELS),
    HostileBody("30000-deep form-typed JSON", nested_json(DEEP_LEVELS), FORM_TYPE),
    HostileBody("30000-deep unclosed", b"[" * DEEP_LEVELS),
    HostileBody(
        "wrong types",
        _json(
            {
                "name": 5,
                "callTemplate": [],
                "systemPrompt": 7,
                "initialState": "x",
                "joinTimeout": {},
                "templateContext": 3,
                "accountSid": True,
                "metadata": [1],
                "medium": "twilio",
                "selectedTools": {"toolName": 1},
                "temperature": "hot",
                "requestContextMapping": ["a"],
            }
        ),
    ),
    HostileBody(
        "huge strings",
        _json(
            {
                "name": "n" * HUGE_STRING_CHARS,
                "systemPrompt": "p" * HUGE_STRING_CHARS,
                "accountSid": "a" * HUGE_STRING_CHARS,
            }
        ),
    ),
    HostileBody(
        "huge number", b'{"temperature": 1' + b"0" * 5000 + b', "joinTimeout": "1' + b"0" * 5000 + b's"}'
    ),
    HostileBody("NaN and Infinity", b'{"temperature": NaN, "initialState": {"x": Infinity}, "name": "n"}'),
    HostileBody("invalid UTF-8", b'{"systemPrompt": "\xff\xfe\xfd", "name": "\xc3("}'),
    HostileBody(
        "lone surrogate", b'{"systemPrompt": "\\ud800", "name": "a\\udfffb", "initialState": {"\\ud800": 1}}'
    ),
    HostileBody("NUL bytes", b'{"systemPrompt": "a\\u0000b", "name": "\\u0000"}'),
    HostileBody("form garbage", b"a=%ZZ&&=&b[]=1&%00=%FF&CallSid=" + b"x" * 1000, FORM_TYPE),
    HostileBody("form with invalid UTF-8", b"CallSid=\xff\xfe&From=%FF", FORM_TYPE),
    HostileBody("multipart without boundary", b"--x\r\n\r\n", "multipart/form-data"),
    HostileBody("unknown content type", b"\x00\x01\x02", "application/octet-stream"),
)


def free_form_paths(openapi: dict[str, Any], case: RouteCase) -> list[tuple[str | int, ...]]:
    """Where the route's JSON body holds free-form JSON (objects without declared properties, maps), found
    in the app's own OpenAPI document so that a field added later is covered too."""
    operation = openapi.get("paths", {}).get(case.path, {}).get(case.method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get(JSON_TYPE, {}).get("schema")
    if schema is None:
        return []
    components = openapi.get("components", {}).get("schemas", {})
    found: list[tuple[str | int, ...]] = []
    _walk(schema, components, (), frozenset(), found)
    return sorted(set(found), key=str)


def _walk(
    schema: dict[str, Any],
    components: dict[str, Any],
    path: tuple[str | int, ...],
    seen: frozenset[str],
    found: list[tuple[str | int, ...]],
) -> None:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            _walk(components[name], components, path, seen | {name}, found)
        return
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        _walk(branch, components, path, seen, found)
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        _walk(schema["items"], components, (*path, 0), seen, found)
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties")
        if properties:
            for name, sub in properties.items():
                _walk(sub, components, (*path, name), seen, found)
        elif path:
            found.append(path)


def body_with(path: tuple[str | int, ...], value: Any) -> Any:
    """A body that holds ``value`` at ``path`` and nothing else."""
    for step in reversed(path):
        value = [value] if isinstance(step, int) else {step: value}
    return value


def field_bodies(openapi: dict[str, Any], case: RouteCase) -> list[HostileBody]:
    return [
        HostileBody(f"{levels}-deep {'.'.join(map(str, path))}", _json(body_with(path, nested_value(levels))))
        for path in free_form_paths(openapi, case)
        for levels in FIELD_DEEP_LEVELS
    ]
