"""``/api/telephony_configs/twilio``: import Twilio credentials (the auth token is write-only)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from callbridge.common.models.telephony import (
    StoredTwilioConfig,
    TwilioConfigCreate,
    TwilioConfigPublic,
    TwilioConfigUpdate,
    secret_prefix,
)
from callbridge.common.store import ConflictError
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.errors import AlreadyExistsError, InvalidRequestError, NotFoundError

router = APIRouter(prefix="/api/telephony_configs", tags=["telephony configs"], dependencies=[ApiKeyDep])

TWILIO_KEY = "twilio"


@router.get("/twilio", response_model=TwilioConfigPublic)
async def get_twilio_config(services: ServicesDep) -> TwilioConfigPublic:
    try:
        return (await services.stores.telephony_configs.get(TWILIO_KEY)).value.public()
    except StoreNotFoundError:
        raise NotFoundError("no Twilio credentials imported") from None


@router.post("/twilio", status_code=status.HTTP_201_CREATED, response_model=TwilioConfigPublic)
async def create_twilio_config(services: ServicesDep, body: TwilioConfigCreate) -> TwilioConfigPublic:
    stored = StoredTwilioConfig(
        account_sid=body.account_sid,
        auth_token_encrypted=services.secret_box.encrypt(body.auth_token),
        auth_token_prefix=secret_prefix(body.auth_token),
        call_creation_allowed_agent_ids=body.call_creation_allowed_agent_ids,
        call_creation_allow_all_agents=body.call_creation_allow_all_agents,
        request_context_mapping=body.request_context_mapping,
    )
    try:
        await services.stores.telephony_configs.create(TWILIO_KEY, stored)
    except ConflictError:
        raise AlreadyExistsError(
            "Twilio credentials are already imported; use PATCH to change them"
        ) from None
    return stored.public()


@router.patch("/twilio", response_model=TwilioConfigPublic)
async def update_twilio_config(services: ServicesDep, body: TwilioConfigUpdate) -> TwilioConfigPublic:
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    if any(changes.get(name, "") is None for name in ("account_sid", "auth_token")):
        raise InvalidRequestError("accountSid and authToken cannot be null")

    def apply(current: StoredTwilioConfig) -> StoredTwilioConfig:
        update = {k: v for k, v in changes.items() if k != "auth_token" and v is not None}
        if body.auth_token is not None:
            update["auth_token_encrypted"] = services.secret_box.encrypt(body.auth_token)
            update["auth_token_prefix"] = secret_prefix(body.auth_token)
        merged = current.model_copy(update=update)
        if merged.call_creation_allow_all_agents and merged.call_creation_allowed_agent_ids:
            raise InvalidRequestError(
                "callCreationAllowedAgentIds may not be set when callCreationAllowAllAgents is true"
            )
        return merged

    try:
        updated = await services.stores.telephony_configs.mutate(TWILIO_KEY, apply)
    except StoreNotFoundError:
        raise NotFoundError("no Twilio credentials imported") from None
    return updated.value.public()


@router.delete("/twilio", status_code=status.HTTP_204_NO_CONTENT)
async def delete_twilio_config(services: ServicesDep) -> Response:
    try:
        await services.stores.telephony_configs.delete(TWILIO_KEY)
    except StoreNotFoundError:
        raise NotFoundError("no Twilio credentials imported") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
