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

router = APIRouter(prefix="/api/telephony_configs", tags=["telephony configs"], dependencies=[ApiKeyDep])

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


@router.get("/twilio", response_model=TwilioConfigPublic)
async def get_twilio_config(services: ServicesDep) -> TwilioConfigPublic:
    return (await _get(services.stores.telephony_configs.twilio, Provider.TWILIO)).public()


@router.post("/twilio", status_code=_CREATED, response_model=TwilioConfigPublic)
async def create_twilio_config(services: ServicesDep, body: TwilioConfigCreate) -> TwilioConfigPublic:
    stored = StoredTwilioConfig.from_create(body, services.secret_box.encrypt)
    return (await _create(services.stores.telephony_configs.twilio, stored)).public()


@router.patch("/twilio", response_model=TwilioConfigPublic)
async def update_twilio_config(services: ServicesDep, body: TwilioConfigUpdate) -> TwilioConfigPublic:
    store = services.stores.telephony_configs.twilio
    return (await _update(services, store, Provider.TWILIO, body)).public()


@router.delete("/twilio", status_code=_NO_CONTENT)
async def delete_twilio_config(services: ServicesDep) -> Response:
    return await _delete(services.stores.telephony_configs.twilio, Provider.TWILIO)


# Telnyx: accountSid, apiKey, publicKey, applicationSid, default codec and sampleRate.


@router.get("/telnyx", response_model=TelnyxConfigPublic)
async def get_telnyx_config(services: ServicesDep) -> TelnyxConfigPublic:
    return (await _get(services.stores.telephony_configs.telnyx, Provider.TELNYX)).public()


@router.post("/telnyx", status_code=_CREATED, response_model=TelnyxConfigPublic)
async def create_telnyx_config(services: ServicesDep, body: TelnyxConfigCreate) -> TelnyxConfigPublic:
    stored = StoredTelnyxConfig.from_create(body, services.secret_box.encrypt)
    return (await _create(services.stores.telephony_configs.telnyx, stored)).public()


@router.patch("/telnyx", response_model=TelnyxConfigPublic)
async def update_telnyx_config(services: ServicesDep, body: TelnyxConfigUpdate) -> TelnyxConfigPublic:
    store = services.stores.telephony_configs.telnyx
    return (await _update(services, store, Provider.TELNYX, body)).public()


@router.delete("/telnyx", status_code=_NO_CONTENT)
async def delete_telnyx_config(services: ServicesDep) -> Response:
    return await _delete(services.stores.telephony_configs.telnyx, Provider.TELNYX)


# Plivo: authId, authToken, default codec and sampleRate.


@router.get("/plivo", response_model=PlivoConfigPublic)
async def get_plivo_config(services: ServicesDep) -> PlivoConfigPublic:
    return (await _get(services.stores.telephony_configs.plivo, Provider.PLIVO)).public()


@router.post("/plivo", status_code=_CREATED, response_model=PlivoConfigPublic)
async def create_plivo_config(services: ServicesDep, body: PlivoConfigCreate) -> PlivoConfigPublic:
    stored = StoredPlivoConfig.from_create(body, services.secret_box.encrypt)
    return (await _create(services.stores.telephony_configs.plivo, stored)).public()


@router.patch("/plivo", response_model=PlivoConfigPublic)
async def update_plivo_config(services: ServicesDep, body: PlivoConfigUpdate) -> PlivoConfigPublic:
    store = services.stores.telephony_configs.plivo
    return (await _update(services, store, Provider.PLIVO, body)).public()


@router.delete("/plivo", status_code=_NO_CONTENT)
async def delete_plivo_config(services: ServicesDep) -> Response:
    return await _delete(services.stores.telephony_configs.plivo, Provider.PLIVO)


# Exotel: accountSid, apiKey, apiToken, subdomain, webhookSecret, default sampleRate.


@router.get("/exotel", response_model=ExotelConfigPublic)
async def get_exotel_config(services: ServicesDep) -> ExotelConfigPublic:
    return (await _get(services.stores.telephony_configs.exotel, Provider.EXOTEL)).public()


@router.post("/exotel", status_code=_CREATED, response_model=ExotelConfigPublic)
async def create_exotel_config(services: ServicesDep, body: ExotelConfigCreate) -> ExotelConfigPublic:
    stored = StoredExotelConfig.from_create(body, services.secret_box.encrypt)
    return (await _create(services.stores.telephony_configs.exotel, stored)).public()


@router.patch("/exotel", response_model=ExotelConfigPublic)
async def update_exotel_config(services: ServicesDep, body: ExotelConfigUpdate) -> ExotelConfigPublic:
    store = services.stores.telephony_configs.exotel
    return (await _update(services, store, Provider.EXOTEL, body)).public()


@router.delete("/exotel", status_code=_NO_CONTENT)
async def delete_exotel_config(services: ServicesDep) -> Response:
    return await _delete(services.stores.telephony_configs.exotel, Provider.EXOTEL)
