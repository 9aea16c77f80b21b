"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response, status

from callbridge.common.models.base import ApiModel

router = APIRouter(tags=["health"])


class HealthStatus(ApiModel):
    """Whether the service can work: it needs its NATS connection."""

    status: Literal["ok", "nats disconnected"]
    """``ok``, or why not."""


@router.get(
    "/healthz",
    response_model=HealthStatus,
    responses={503: {"model": HealthStatus, "description": "NATS is disconnected"}},
)
async def healthz(request: Request, response: Response) -> HealthStatus:
    """Readiness: 200 while connected to NATS, 503 otherwise. Needs no API key."""
    broker = getattr(request.app.state, "broker", None)
    connected = broker is not None and broker.connection is not None and broker.connection.is_connected
    if not connected:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthStatus(status="nats disconnected")
    return HealthStatus(status="ok")
