"""What the four simulated provider REST APIs share: the account's calls, the requests they received, a stall
switch for timeout tests, the outbound calls it places (outbound_calls.py), and serving the API over real
HTTP on a free port.

Each provider's module (twilio.py, telnyx.py, plivo.py, exotel.py) adds its documented paths, its
authentication and its error bodies; ``<provider>_calls.py`` its outbound calls. A test points callbridge's
REST client at ``base_url`` through the ``CALLBRIDGE_<PROVIDER>_API_URL`` setting, adds the calls the account
has (or dials them), and reads what was asked.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import ssl
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypedDict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port
from callbridge.devkit.simulators.rest.callee import CalleeScript
from callbridge.devkit.simulators.rest.line import SimulatedProviderCall
from callbridge.devkit.simulators.rest.outbound_calls import DEFAULT_CALLBACK_TIMEOUT_S, OutboundCalls

__all__ = [
    "AccountOptions",
    "ApiRequest",
    "SimulatedProviderCall",
    "SimulatedRestApi",
    "basic_auth",
    "same_secret",
]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One request the simulated API received, as the tests check it."""

    method: str
    path: str
    query: str
    authorized: bool
    body: bytes


@dataclass
class _Stall:
    """While active, every request waits (a provider that does not answer) until released."""

    active: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)


class AccountOptions(TypedDict, total=False):
    """How a simulated account places calls (see ``SimulatedRestApi.__init__``)."""

    script: CalleeScript | None
    allow_insecure_ws: bool
    ssl_context: ssl.SSLContext | None
    callback_timeout_s: float


class SimulatedRestApi(ABC):
    """One provider account's REST API: ``calls`` by provider id, ``requests`` in arrival order, the calls it
    placed in ``outbound``."""

    name: ClassVar[str]
    live_status: ClassVar[str]
    """The status a call in progress has, in the provider's words."""

    def __init__(
        self,
        *,
        script: CalleeScript | None = None,
        allow_insecure_ws: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        callback_timeout_s: float = DEFAULT_CALLBACK_TIMEOUT_S,
    ) -> None:
        """``script`` says what each dialed number does (default: answers and speaks);
        ``allow_insecure_ws`` lets outbound calls stream to a ``ws://`` URL (a local stack), which the
        providers refuse; ``ssl_context`` verifies a ``wss://`` one served with a local CA."""
        self.calls: dict[str, SimulatedProviderCall] = {}
        self.conferences: dict[str, list[str]] = {}
        """Conference (or bridge) name -> the ids of the calls joined in it, in the order they joined."""
        self.requests: list[ApiRequest] = []
        self._stall = _Stall()
        self.base_url: str | None = None
        """Where the API is served (``serve``); what ``CALLBRIDGE_<PROVIDER>_API_URL`` is set to."""
        self.outbound = OutboundCalls(
            self.name,
            script or CalleeScript(),
            allow_insecure_ws=allow_insecure_ws,
            ssl_context=ssl_context,
            callback_timeout_s=callback_timeout_s,
        )

    def add_call(self, call_id: str, status: str | None = None) -> SimulatedProviderCall:
        """A call the account has; in progress unless ``status`` says otherwise."""
        call = SimulatedProviderCall(call_id, status or self.live_status)
        self.calls[call_id] = call
        return call

    @contextlib.contextmanager
    def stalled(self) -> Iterator[None]:
        """While inside, requests get no answer; on leaving, the held ones are answered."""
        self._stall = _Stall(active=True)
        try:
            yield
        finally:
            self._stall.released.set()
            self._stall = _Stall()

    @abstractmethod
    def routes(self) -> list[Route]:
        """The provider's documented paths this simulator serves."""

    def join_conference(self, call: SimulatedProviderCall, room: str) -> None:
        """The API put ``call`` into the conference ``room``: its stream stops, and the calls in the room
        hear each other (recorded here)."""
        self.record_conference(call, room)
        call.stop_stream()

    def record_conference(self, call: SimulatedProviderCall, room: str) -> None:
        """``call`` hears the other calls in ``room`` (a conference, or a bridge of two calls)."""
        self.conferences.setdefault(room, []).append(call.call_id)
        call.conference = room

    @abstractmethod
    def telephony_config(self) -> dict[str, Any]:
        """The body of ``POST /api/telephony_configs/<provider>`` that imports this account."""

    @abstractmethod
    def authorized(self, request: Request, account: str) -> bool:
        """Whether the request's credentials are this account's (``account``: the id in its path)."""

    def app(self) -> Starlette:
        return Starlette(routes=self.routes())

    async def received(self, request: Request, account: str) -> bool:
        """Record the request (waiting first while stalled); whether it is authorized."""
        stall = self._stall
        if stall.active:
            await stall.released.wait()
        authorized = self.authorized(request, account)
        self.requests.append(
            ApiRequest(request.method, request.url.path, request.url.query, authorized, await request.body())
        )
        return authorized

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the API over HTTP (uvicorn, on this event loop); yields its base URL."""
        async with self.outbound.running(), serve_asgi(self.app(), host, port or free_port()) as base_url:
            self.base_url = base_url
            try:
                yield base_url
            finally:
                self._stall.released.set()  # a stalled request must not hold the server's shutdown
                self.base_url = None


def basic_auth(request: Request) -> tuple[str, str] | None:
    """The user and password of ``Authorization: Basic …``, or None."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, separator, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if separator else None


def same_secret(offered: str, expected: str) -> bool:
    return hmac.compare_digest(offered.encode(), expected.encode())
