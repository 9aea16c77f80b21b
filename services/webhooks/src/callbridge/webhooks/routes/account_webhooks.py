"""``/api/webhooks``: who is told of which call events (Ultravox's account webhooks), and how their
deliveries fare (``status``, ``recentFailures``). Delivery: callbridge.common.account_webhooks.delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Path, Request, Response, status

from callbridge.common.account_webhooks.models import (
    Webhook,
    WebhookCreate,
    WebhookPage,
    WebhookPublic,
    WebhookUpdate,
)
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.webhooks import records
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.errors import NotFoundError
from callbridge.webhooks.openapi import API_KEY_ERRORS, BODY_ERRORS, errors
from callbridge.webhooks.pagination import paginate
from callbridge.webhooks.params import Cursor, PageSize

router = APIRouter(
    prefix="/api/webhooks", tags=["webhooks"], dependencies=[ApiKeyDep], responses=API_KEY_ERRORS
)

WebhookId = Annotated[UUID, Path(description="The webhook's id.")]


@router.get("", response_model=WebhookPage, responses=errors(422))
async def list_webhooks(
    services: ServicesDep, request: Request, cursor: Cursor = None, page_size: PageSize = 100
) -> WebhookPage:
    """The account's webhooks, newest first, a page at a time, with their health."""
    webhooks = sorted(await services.stores.webhooks.all(), key=lambda w: w.created, reverse=True)
    page = paginate(webhooks, cursor, page_size, request)
    decrypt = services.secret_box.decrypt
    return WebhookPage(
        results=[webhook.public(decrypt) for webhook in page.results],
        next=page.next,
        previous=page.previous,
        total=len(webhooks),
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookPublic, responses=BODY_ERRORS)
async def create_webhook(services: ServicesDep, body: WebhookCreate) -> WebhookPublic:
    """A webhook: each of the ``events`` of every call (of ``agentId``'s calls, if given) is POSTed to
    ``url`` as ``{"event", "call"}``, signed with each secret (``X-Ultravox-Webhook-Timestamp``,
    ``X-Ultravox-Webhook-Signature``), at least once, in order per call, retried 10 times from 30 s on,
    doubling. It gets the events that happen after it is created, of every call."""
    if body.agent_id is not None:
        await records.load_agent(services.stores, body.agent_id)
    webhook = Webhook(
        webhook_id=uuid4(),
        url=str(body.url),
        events=body.events,
        agent_id=body.agent_id,
        created=datetime.now(UTC),
        sealed_secrets=Webhook.seal(body.secrets, services.secret_box.encrypt),
    )
    await services.stores.webhooks.create(str(webhook.webhook_id), webhook)
    return webhook.public(services.secret_box.decrypt)


@router.get("/{webhook_id}", response_model=WebhookPublic, responses=errors(404, 422))
async def get_webhook(services: ServicesDep, webhook_id: WebhookId) -> WebhookPublic:
    """One webhook, with its health: ``status`` (``unhealthy`` after 5 failed attempts in a row),
    ``lastStatusChange`` and its last 10 ``recentFailures``."""
    return (await _load(services, webhook_id)).public(services.secret_box.decrypt)


@router.put("/{webhook_id}", response_model=WebhookPublic, responses={**BODY_ERRORS, **errors(404)})
async def replace_webhook(services: ServicesDep, webhook_id: WebhookId, body: WebhookCreate) -> WebhookPublic:
    """Replace a webhook's url, events, agent and secrets."""
    return await _change(services, webhook_id, body.model_dump(by_alias=False), replace=True)


@router.patch("/{webhook_id}", response_model=WebhookPublic, responses={**BODY_ERRORS, **errors(404)})
async def update_webhook(services: ServicesDep, webhook_id: WebhookId, body: WebhookUpdate) -> WebhookPublic:
    """Change what is given."""
    return await _change(
        services, webhook_id, body.model_dump(by_alias=False, exclude_unset=True), replace=False
    )


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
async def delete_webhook(services: ServicesDep, webhook_id: WebhookId) -> Response:
    """Delete a webhook; its deliveries still waiting are dropped."""
    try:
        await services.stores.webhooks.delete(str(webhook_id))
    except StoreNotFoundError:
        raise NotFoundError(f"webhook {webhook_id} not found") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _change(
    services: ServicesDep, webhook_id: UUID, fields: dict[str, Any], *, replace: bool
) -> WebhookPublic:
    if fields.get("agent_id") is not None:
        await records.load_agent(services.stores, fields["agent_id"])
    update: dict[str, Any] = {}
    for name in ("url", "events", "agent_id"):
        if name in fields and (fields[name] is not None or name == "agent_id"):
            update[name] = str(fields[name]) if name == "url" else fields[name]
    if replace or fields.get("secrets") is not None:
        update["sealed_secrets"] = Webhook.seal(fields.get("secrets") or [], services.secret_box.encrypt)

    def apply(webhook: Webhook) -> Webhook:
        return webhook.model_copy(update=update)

    try:
        changed = await services.stores.webhooks.mutate(str(webhook_id), apply)
    except StoreNotFoundError:
        raise NotFoundError(f"webhook {webhook_id} not found") from None
    return changed.value.public(services.secret_box.decrypt)


async def _load(services: ServicesDep, webhook_id: UUID) -> Webhook:
    found = await services.stores.webhooks.find(str(webhook_id))
    if found is None:
        raise NotFoundError(f"webhook {webhook_id} not found")
    return found.value
