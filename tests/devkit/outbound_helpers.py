"""What the outbound-call tests of the simulated provider accounts share: where a dial points (the fake
callbridge of fake_provider_server.py), and reading what the account sent there as callbridge reads it:
``ProviderRequest``s verified and parsed by libs/telephony's own code."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from callbridge.common.models.medium import Provider
from callbridge.telephony import DialRequest, ProviderStatus, StreamTarget, provider_for
from callbridge.telephony.request import Fields, Headers, ProviderRequest
from tests.devkit.fake_provider_server import FakeServer, HttpRequest
from tests.telephony.helpers import EXOTEL_WEBHOOK_SECRET, ProviderApi

TO, FROM = "+15550001111", "+15550002222"
STATUS_PATH = "/status"
ANSWER_PATH = "/answer"


def join_url(fake: FakeServer, provider: Provider) -> str:
    return f"{fake.ws_url}/calls/{provider.value}/join"


def status_url(fake: FakeServer, provider: Provider) -> str:
    """Where the account posts the call's progress; Exotel's carries callbridge's webhook secret as the
    Basic auth password in the URL (Exotel signs nothing)."""
    if provider is Provider.EXOTEL:
        host = urlsplit(fake.http_url).netloc
        return f"http://exotel:{EXOTEL_WEBHOOK_SECRET}@{host}{STATUS_PATH}"
    return f"{fake.http_url}{STATUS_PATH}"


def dial_request(fake: FakeServer, provider: Provider, **changes: Any) -> DialRequest:
    fields: dict[str, Any] = {
        "call_id": uuid.uuid4(),
        "to": TO,
        "from_": FROM,
        "join_url": join_url(fake, provider),
        "status_callback_url": status_url(fake, provider),
        "answer_url": f"{fake.http_url}{ANSWER_PATH}",
        **changes,
    }
    return DialRequest(**fields)


def serve_callbacks(fake: FakeServer, account: ProviderApi, request: DialRequest) -> None:
    """Answer every callback 200, and Plivo's answer URL with the ``<Stream>`` XML libs/telephony builds for
    an incoming call (what callbridge's answer route serves)."""
    plan = (
        provider_for(Provider.PLIVO).plan_stream(account.config, None)
        if account.provider is Provider.PLIVO
        else None
    )

    def answer(http: HttpRequest) -> tuple[int, str, str]:
        if http.path == ANSWER_PATH and plan is not None:
            target = StreamTarget(request.call_id, request.join_url, request.status_callback_url)
            document = plan.answer(target)
            return 200, document.media_type, document.body
        return 200, "application/json", "{}"

    fake.answer = answer


def provider_request(fake: FakeServer, http: HttpRequest) -> ProviderRequest:
    """The request as callbridge's webhooks service reads it."""
    url = f"{fake.http_url}{http.target}"
    headers = Headers(http.headers)
    content_type = http.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        document = json.loads(http.body)
        return ProviderRequest(http.method, url, headers, http.body, json=document)
    if http.method == "GET":
        return ProviderRequest(
            http.method, url, headers, http.body, fields=Fields(parse_qsl(urlsplit(url).query))
        )
    pairs = Fields(parse_qsl(http.body.decode(), keep_blank_values=True))
    return ProviderRequest(http.method, url, headers, http.body, form=pairs, fields=pairs)


def verified(fake: FakeServer, account: ProviderApi, path: str = STATUS_PATH) -> list[ProviderRequest]:
    """The requests to ``path``, each verified with the imported config as callbridge verifies it (raises
    ``RequestNotVerified`` otherwise)."""
    plugin = provider_for(account.provider)
    requests = [provider_request(fake, http) for http in fake.requests if http.path == path]
    for request in requests:
        plugin.verify(request, account.config, account.secret_box.decrypt, time.time())
    return requests


def statuses(fake: FakeServer, account: ProviderApi) -> list[ProviderStatus]:
    """The status callbacks, verified, then parsed by the provider's ``parse_status``."""
    plugin = provider_for(account.provider)
    return [plugin.parse_status(request) for request in verified(fake, account)]
