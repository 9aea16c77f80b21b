"""``/api/telephony_configs/{twilio,telnyx,plivo,exotel}``: import provider credentials (Ultravox §3).

Secrets are write-only: stored encrypted, returned only as their ``…Prefix``.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import APIRouter, Response, status

from callbridge.common.models.base import ApiModel
from callbridge.common.models.medium import Provider
from callbridge.common.models.telephony import (
    ConfigChangeError,
    ExotelConfigCreate,
    ExotelConfigPublic,
    ExotelConfigUpdate,
    PlivoConfigCreate,
    PlivoConfigPublic,
    PlivoConfigUpdate,
    StoredExotelConfig,
    StoredPlivoConfig,
    StoredTelephonyConfig,
    StoredTelnyxConfig,
    StoredTwilioConfig,
    TelnyxConfigCreate,
    TelnyxConfigPublic,
    TelnyxConfigUpdate,
    TwilioConfigCreate,
    TwilioConfigPublic,
    TwilioConfigUpdate,
)
from callbridge.common.store import ConflictError, KvStore
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.webhooks.deps import ApiKeyDep, Services, ServicesDep
from callbridge.webhooks.detection import PROVIDER_NAMES
from callbridge.webhooks.errors import AlreadyExistsError, InvalidRequestError, NotFoundError
from callbridge.webhooks.openapi import API_KEY_ERRORS, BODY_ERRORS, errors

router = APIRouter(
    prefix="/api/telephony_configs",
    tags=["telephony configs"],
    dependencies=[ApiKeyDep],
    responses=API_KEY_ERRORS,
)

C = TypeVar("C", bound=StoredTelephonyConfig)

_CREATED = status.HTTP_201_CREATED
_NO_CONTENT = status.HTTP_204_NO_CONTENT


async def _get(store: KvStore[C], provider: Provider) -> C:
    try:
        return (await store.get(provider.value)).value
    except StoreNotFoundError:
        raise NotFoundError(f"no {PROVIDER_NAMES[provider]} credentials imported") from None


async def _create(store: KvStore[C], config: C) -> C:
    try:
        await store.create(config.PROVIDER.value, config)
    except ConflictError:
        raise AlreadyExistsError(
            f"{PROVIDER_NAMES[config.PROVIDER]} credentials are already imported; use PATCH to change them"
        ) from None
    return config


async def _update(services: Services, store: KvStore[C], provider: Provider, body: ApiModel) -> C:
    def apply(current: C) -> C:
        return current.with_changes(body, services.secret_box.encrypt)

    try:
        return (await store.mutate(provider.value, apply)).value
    except StoreNotFoundError:
        raise NotFoundError(f"no {PROVIDER_NAMES[provider]} credentials imported") from None
    except ConfigChangeError as exc:
        raise InvalidRequestError(str(exc)) from None


async def _delete(store: KvStore[C], provider: Provider) -> Response:
    try:
        await store.delete(provider.value)
    except StoreNotFoundError:
        raise NotFoundError(f"no {PROVIDER_NAMES[provider]} credentials imported") from None
    return Response(status_code=_NO_CONTENT)


# Twilio: accountSid, authToken.


@router.get("/twilio", response_model=TwilioConfigPublic, responses=errors(404, 409))
async def get_twilio_config(services: ServicesDep) -> TwilioConfigPublic:
    """The imported Twilio config, secrets shown only by their first characters."""
    return (await _get(services.stores.telephony_configs.twilio, Provider.TWILIO)).public()


@router.post(
    "/twilio",
    status_code=_CREATED,
    response_model=TwilioConfigPublic,
    responses={**BODY_ERRORS, **errors(409)},
)
async def create_twilio_config(services: ServicesDep, body: TwilioConfigCreate) -> TwilioConfigPublic:
    """Import Twilio credentials (409 if imported already: change them with PATCH). Secrets are stored
    encrypted and never returned."""
    stored = StoredTwilioConfig.from_create(body, services.secret_box.encrypt)
    return (await _create(services.stores.telephony_configs.twilio, stored)).public()


@router.patch("/twilio", response_model=TwilioConfigPublic, responses={**BODY_ERRORS, **errors(404, 409)})
async def update_twilio_config(services: ServicesDep, body: TwilioConfigUpdate) -> TwilioConfigPublic:
    """Change the imported Twilio config: each field given replaces the stored one."""
    store = services.stores.telephony_configs.twilio
    return (await _update(services, store, Provider.TWILIO, body)).public()


@router.delete("/twilio", status_code=_NO_CONTENT, responses=errors(404))
async def delete_twilio_config(services: ServicesDep) -> Response:
    """Delete the Twilio config: Twilio's webhooks are refused from then on."""
    return await _delete(services.stores.telephony_configs.twilio, Provider.TWILIO)


# Telnyx: accountSid, apiKey, publicKey, applicationSid, default codec and sampleRate.


@router.get("/telnyx", response_model=TelnyxConfigPublic, responses=errors(404, 409))
async def get_telnyx_config(services: ServicesDep) -> TelnyxConfigPublic:
    """The imported Telnyx config, secrets shown only by their first characters."""
    return (await _get(services.stores.telephony_configs.telnyx, Provider.TELNYX)).public()


@router.post(
    "/telnyx",
    status_code=_CREATED,
    response_model=TelnyxConfigPublic,
    responses={**BODY_ERRORS, **errors(409)},
)
async def create_telnyx_config(services: ServicesDep, body: TelnyxConfigCreate) -> TelnyxConfigPublic:
    """Import Telnyx credentials (409 if imported already: change them with PATCH). Secrets are stored
    encrypted and never returned."""
    stored = StoredTelnyxConfig.from_create(body, services.secret_box.encrypt)
    return (await _create(services.stores.telephony_configs.telnyx, stored)).public()


@router.patch("/telnyx", response_model=TelnyxConfigPublic, responses={**BODY_ERRORS, **errors(404, 409)})
async def update_telnyx_config(services: ServicesDep, body: TelnyxConfigUpdate) -> TelnyxConfigPublic:
    """Change the imported Telnyx config: each field given replaces the stored one."""
    store = services.stores.telephony_configs.telnyx
    return (await _update(services, store, Provider.TELNYX, body)).public()


@router.delete("/telnyx", status_code=_NO_CONTENT, responses=errors(404))
async def delete_telnyx_config(services: ServicesDep) -> Response:
    """Delete the Telnyx config: Telnyx's webhooks are refused from then on."""
    return await _delete(services.stores.telephony_configs.telnyx, Provider.TELNYX)


# Plivo: authId, authToken, default codec and sampleRate.


@router.get("/plivo", response_model=PlivoConfigPublic, responses=errors(404, 409))
async def get_plivo_config(services: ServicesDep) -> PlivoConfigPublic:
    """The imported Plivo config, secrets shown only by their first characters."""
    return (await _get(services.stores.telephony_configs.plivo, Provider.PLIVO)).public()


@router.post(
    "/plivo", status_code=_CREATED, response_model=PlivoConfigPublic, responses={**BODY_ERRORS, **errors(409)}
)
async def create_plivo_config(services: ServicesDep, body: PlivoConfigCreate) -> PlivoConfigPublic:
    """Import Plivo credentials (409 if imported already: change them with PATCH). Secrets are stored
    encrypted and never returned."""
    stored = StoredPlivoConfig.from_create(body, services.secret_box.encrypt)
    return (await _create(services.stores.telephony_configs.plivo, stored)).public()


@router.patch("/plivo", response_model=PlivoConfigPublic, responses={**BODY_ERRORS, **errors(404, 409)})
async def update_plivo_config(services: ServicesDep, body: PlivoConfigUpdate) -> PlivoConfigPublic:
    """Change the imported Plivo config: each field given replaces the stored one."""
    store = services.stores.telephony_configs.plivo
    return (await _update(services, store, Provider.PLIVO, body)).public()


@router.delete("/plivo", status_code=_NO_CONTENT, responses=errors(404))
async def delete_plivo_config(services: ServicesDep) -> Response:
    """Delete the Plivo config: Plivo's webhooks are refused from then on."""
    return await _delete(services.stores.telephony_configs.plivo, Provider.PLIVO)


# Exotel: accountSid, apiKey, apiToken, subdomain, webhookSecret, default sampleRate.


@router.get("/exotel", response_model=ExotelConfigPublic, responses=errors(404, 409))
async def get_exotel_config(services: ServicesDep) -> ExotelConfigPublic:
    """The imported Exotel config, secrets shown only by their first characters."""
    return (await _get(services.stores.telephony_configs.exotel, Provider.EXOTEL)).public()


@router.post(
    "/exotel",
    status_code=_CREATED,
    response_model=ExotelConfigPublic,
    responses={**BODY_ERRORS, **errors(409)},
)
async def create_exotel_config(services: ServicesDep, body: ExotelConfigCreate) -> ExotelConfigPublic:
    """Import Exotel credentials (409 if imported already: change them with PATCH). Secrets are stored
    encrypted and never returned."""
    stored = StoredExotelConfig.from_create(body, services.secret_box.encrypt)
    return (await _create(services.stores.telephony_configs.exotel, stored)).public()


@router.patch("/exotel", response_model=ExotelConfigPublic, responses={**BODY_ERRORS, **errors(404, 409)})
async def update_exotel_config(services: ServicesDep, body: ExotelConfigUpdate) -> ExotelConfigPublic:
    """Change the imported Exotel config: each field given replaces the stored one."""
    store = services.stores.telephony_configs.exotel
    return (await _update(services, store, Provider.EXOTEL, body)).public()


@router.delete("/exotel", status_code=_NO_CONTENT, responses=errors(404))
async def delete_exotel_config(services: ServicesDep) -> Response:
    """Delete the Exotel config: Exotel's webhooks are refused from then on."""
    return await _delete(services.stores.telephony_configs.exotel, Provider.EXOTEL)
