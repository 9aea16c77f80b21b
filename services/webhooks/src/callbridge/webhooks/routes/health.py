"""Liveness and readiness: liveness never depends on NATS, so a NATS blip does not restart the service."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from callbridge.common.models.base import ApiModel

router = APIRouter(tags=["health"])


class HealthStatus(ApiModel):
    """Whether the service is up, or can work (readiness needs its NATS connection)."""

    status: Literal["ok", "nats disconnected"]
    """``ok``, or why not."""


@router.get("/livez", response_model=HealthStatus)
async def livez() -> HealthStatus:
    """Liveness: 200 while the process serves requests, whatever NATS does. Needs no API key."""
    return HealthStatus(status="ok")


@router.get(
    "/readyz",
    response_model=HealthStatus,
    responses={503: {"model": HealthStatus, "description": "NATS is disconnected"}},
)
@router.get(
    "/healthz",
    response_model=HealthStatus,
    responses={503: {"model": HealthStatus, "description": "NATS is disconnected"}},
    description="The same as /readyz.",
)
async def readyz(request: Request, response: Response) -> HealthStatus:
    """Readiness: 200 while connected to NATS, 503 otherwise. Needs no API key."""
    broker = getattr(request.app.state, "broker", None)
    connected = broker is not None and broker.connection is not None and broker.connection.is_connected
    if not connected:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthStatus(status="nats disconnected")
    return HealthStatus(status="ok")


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus metrics of this process (requests, webhook deliveries); no API key, as health."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
