"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request, response: Response) -> dict[str, str]:
    broker = getattr(request.app.state, "broker", None)
    connected = broker is not None and broker.connection is not None and broker.connection.is_connected
    if not connected:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "nats disconnected"}
    return {"status": "ok"}
