"""Liveness and readiness: ``/livez`` answers while the process serves HTTP, ``/readyz`` only while NATS
is connected too. An orchestrator restarts on liveness and routes on readiness, so a NATS blip takes the
replicas out of rotation without restarting them. ``/healthz`` is kept as an alias of ``/readyz``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

router = APIRouter(tags=["health"])


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
@router.get("/healthz")
async def readyz(request: Request, response: Response) -> dict[str, str]:
    broker = getattr(request.app.state, "broker", None)
    connected = broker is not None and broker.connection is not None and broker.connection.is_connected
    if not connected:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "nats disconnected"}
    return {"status": "ok"}
