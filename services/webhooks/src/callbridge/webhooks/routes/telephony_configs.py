"""``/api/telephony_configs/{provider}``: import provider credentials (Ultravox §3), one set of routes per
provider in the registry, each typed with that provider's models in the OpenAPI document.

Secrets are write-only: stored encrypted, returned only as their ``…Prefix``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response, status

from callbridge.common.models.base import ApiModel
from callbridge.common.store import ConflictError
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.telephony import (
    PROVIDERS,
    AgentAccess,
    ConfigChangeError,
    StoredTelephonyConfig,
    TelephonyProvider,
)
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.errors import AlreadyExistsError, InvalidRequestError, NotFoundError
from callbridge.webhooks.openapi import API_KEY_ERRORS, BODY_ERRORS, errors

router = APIRouter(
    prefix="/api/telephony_configs",
    tags=["telephony configs"],
    dependencies=[ApiKeyDep],
    responses=API_KEY_ERRORS,
)

_CREATED = status.HTTP_201_CREATED
_NO_CONTENT = status.HTTP_204_NO_CONTENT


def add_provider_routes(target: APIRouter, plugin: TelephonyProvider[Any]) -> None:
    """POST, GET, PATCH and DELETE ``/{provider}`` for one provider, its models in the signatures."""
    provider, name, models = plugin.provider, plugin.display_name, plugin.credentials
    path = f"/{provider.value}"
    not_imported = f"no {name} credentials imported"

    async def get_config(services: ServicesDep) -> AgentAccess:
        try:
            stored = (await services.configs.store(provider).get(provider.value)).value
        except StoreNotFoundError:
            raise NotFoundError(not_imported) from None
        return stored.public()

    async def create_config(services: ServicesDep, body: ApiModel) -> AgentAccess:
        stored: StoredTelephonyConfig = models.stored.from_create(body, services.secret_box.encrypt)
        try:
            await services.configs.store(provider).create(provider.value, stored)
        except ConflictError:
            raise AlreadyExistsError(
                f"{name} credentials are already imported; use PATCH to change them"
            ) from None
        return stored.public()

    async def update_config(services: ServicesDep, body: ApiModel) -> AgentAccess:
        try:
            changed = await services.configs.store(provider).mutate(
                provider.value, lambda current: current.with_changes(body, services.secret_box.encrypt)
            )
        except StoreNotFoundError:
            raise NotFoundError(not_imported) from None
        except ConfigChangeError as exc:
            raise InvalidRequestError(str(exc)) from None
        return changed.value.public()

    async def delete_config(services: ServicesDep) -> Response:
        try:
            await services.configs.store(provider).delete(provider.value)
        except StoreNotFoundError:
            raise NotFoundError(not_imported) from None
        return Response(status_code=_NO_CONTENT)

    target.get(
        path,
        response_model=models.public,
        responses=errors(404, 409),
        description=f"The imported {name} config, secrets shown only by their first characters.",
    )(_named(get_config, f"get_{provider.value}_config"))
    target.post(
        path,
        status_code=_CREATED,
        response_model=models.public,
        responses={**BODY_ERRORS, **errors(409)},
        description=f"Import {name} credentials (409 if imported already: change them with PATCH). "
        "Secrets are stored encrypted and never returned.",
    )(_named(create_config, f"create_{provider.value}_config", body=models.create))
    target.patch(
        path,
        response_model=models.public,
        responses={**BODY_ERRORS, **errors(404, 409)},
        description=f"Change the imported {name} config: each field given replaces the stored one.",
    )(_named(update_config, f"update_{provider.value}_config", body=models.update))
    target.delete(
        path,
        status_code=_NO_CONTENT,
        responses=errors(404),
        description=f"Delete the {name} config: {name}'s webhooks are refused from then on.",
    )(_named(delete_config, f"delete_{provider.value}_config"))


def _named(
    endpoint: Callable[..., Any], name: str, *, body: type[ApiModel] | None = None
) -> Callable[..., Any]:
    """``endpoint`` under its own name (the OpenAPI operation and summary), its ``body`` parameter typed
    with the provider's model, which FastAPI validates the request with and the OpenAPI document shows."""
    endpoint.__name__ = endpoint.__qualname__ = name
    signature = inspect.signature(endpoint, eval_str=True)
    if body is not None:
        parameters = [
            parameter.replace(annotation=body) if parameter.name == "body" else parameter
            for parameter in signature.parameters.values()
        ]
        signature = signature.replace(parameters=parameters)
    endpoint.__signature__ = signature  # type: ignore[attr-defined]  # read by inspect.signature, so FastAPI
    return endpoint


for _plugin in PROVIDERS.values():
    add_provider_routes(router, _plugin)
