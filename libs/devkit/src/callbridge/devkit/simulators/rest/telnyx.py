"""Telnyx's Call Control API, simulated: hang up and the call's status (reference §2.4).

``POST /v2/calls/{call_control_id}/actions/hangup`` ends a live call; one that has ended answers 422 with
error code 90018. ``GET /v2/calls/{call_control_id}`` returns ``is_alive``. ``Authorization: Bearer <API
key>``; anything else is 401 (code 10009). Unknown calls are 404 (code 10005). Errors are Telnyx's JSON:
``{"errors": [{"code", "title", "detail"}]}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from callbridge.devkit.simulators.rest.base import SimulatedRestApi, same_secret

CALL_ENDED = "90018"
AUTHENTICATION_FAILED = "10009"
RESOURCE_NOT_FOUND = "10005"
ACCOUNT = "telnyx"
"""Telnyx's paths carry no account: the API key alone says whose calls they are."""


class TelnyxRestApi(SimulatedRestApi):
    name = "Telnyx"
    live_status = "active"

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self._api_key = api_key

    def routes(self) -> list[Route]:
        return [
            Route("/v2/calls/{call_control_id}/actions/hangup", self._hang_up, methods=["POST"]),
            Route("/v2/calls/{call_control_id}", self._status, methods=["GET"]),
        ]

    def authorized(self, request: Request, account: str) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and same_secret(token.strip(), self._api_key)

    async def _hang_up(self, request: Request) -> JSONResponse:
        if not await self.received(request, ACCOUNT):
            return _unauthorized()
        call = self.calls.get(request.path_params["call_control_id"])
        if call is None:
            return _not_found()
        if call.status != self.live_status:
            return _error(
                422,
                CALL_ENDED,
                "Call has already ended",
                "This call is no longer active and can't receive commands.",
            )
        call.status = "ended"
        call.hung_up_by_api = True
        return JSONResponse({"data": {"result": "ok"}})

    async def _status(self, request: Request) -> JSONResponse:
        if not await self.received(request, ACCOUNT):
            return _unauthorized()
        call = self.calls.get(request.path_params["call_control_id"])
        if call is None:
            return _not_found()
        data: dict[str, Any] = {
            "record_type": "call",
            "call_control_id": call.call_id,
            "call_leg_id": f"leg-{call.call_id}",
            "call_session_id": f"session-{call.call_id}",
            "is_alive": call.status == self.live_status,
        }
        return JSONResponse({"data": data})


def _unauthorized() -> JSONResponse:
    return _error(
        401,
        AUTHENTICATION_FAILED,
        "Authentication failed",
        "The API key looks malformed or is not valid. Check that you are sending it correctly.",
    )


def _not_found() -> JSONResponse:
    return _error(
        404, RESOURCE_NOT_FOUND, "Resource not found", "The requested resource or URL could not be found."
    )


def _error(status: int, code: str, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"errors": [{"code": code, "title": title, "detail": detail}]}, status_code=status)
