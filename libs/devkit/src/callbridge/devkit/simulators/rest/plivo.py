"""Plivo's Call API for one account, simulated: make a call (outbound calls, plivo_calls.py), hang up, a live
call, and an ended call's record (§3.5).

``DELETE /v1/Account/{auth_id}/Call/{call_uuid}/`` ends a call in progress (204); one that has gone answers
404. ``GET …/Call/{call_uuid}/?status=live`` returns a call in progress (404 otherwise); ``GET
…/Call/{call_uuid}/`` an ended call's record (404 while it is live). HTTP Basic ``auth_id:auth_token``;
anything else is 401. Errors are Plivo's JSON: ``{"api_id", "error"}``.
"""

from __future__ import annotations

import uuid
from typing import Any, Unpack

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callbridge.devkit.simulators.rest import plivo_calls
from callbridge.devkit.simulators.rest.base import AccountOptions, SimulatedRestApi, basic_auth, same_secret

LIVE_STATUSES = frozenset({"queued", "ringing", "in-progress"})
"""A call in one of these is live: ``?status=live`` returns it, it has no record yet, DELETE ends it."""


class PlivoRestApi(SimulatedRestApi):
    name = "Plivo"
    live_status = "in-progress"

    def __init__(self, auth_id: str, auth_token: str, **options: Unpack[AccountOptions]) -> None:
        super().__init__(**options)
        self.auth_id = auth_id
        self.auth_token = auth_token
        """Authenticates the API's requests and signs the account's requests to your URLs."""

    def telephony_config(self) -> dict[str, Any]:
        return {"authId": self.auth_id, "authToken": self.auth_token}

    def routes(self) -> list[Route]:
        return [
            Route("/v1/Account/{auth_id}/Call/", self._dial, methods=["POST"]),
            Route("/v1/Account/{auth_id}/Call/{call_uuid}/", self._call, methods=["GET", "DELETE"]),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return _error(status, message, headers)

    async def _dial(self, request: Request) -> JSONResponse:
        return await plivo_calls.dial(self, request)

    def authorized(self, request: Request, account: str) -> bool:
        credentials = basic_auth(request)
        return (
            credentials is not None
            and credentials[0] == self.auth_id == account
            and same_secret(credentials[1], self.auth_token)
        )

    async def _call(self, request: Request) -> Response:
        if not await self.received(request, request.path_params["auth_id"]):
            return _error(401, "authentication failed")
        call = self.calls.get(request.path_params["call_uuid"])
        live = call is not None and call.status in LIVE_STATUSES
        if request.method == "DELETE":
            if call is None or not live:
                return _error(404, "not found")
            call.hang_up_by_api("completed")
            return Response(status_code=204)
        if request.query_params.get("status") == "live":
            if call is None or not live:
                return _error(404, "call not found")
            return JSONResponse(
                {
                    "api_id": str(uuid.uuid4()),
                    "call_status": call.status,
                    "call_uuid": call.call_id,
                    "direction": "inbound",
                    "from": "14155550100",
                    "to": "14155550199",
                }
            )
        if call is None or live:
            return _error(404, "call not found")
        cause = "Normal Hangup" if call.status == "completed" else call.status
        return JSONResponse(
            {
                "api_id": str(uuid.uuid4()),
                "call_uuid": call.call_id,
                "call_direction": "inbound",
                "from_number": "14155550100",
                "to_number": "14155550199",
                "hangup_cause_name": cause,
                "hangup_source": "API Request" if call.hung_up_by_api else "Caller",
            }
        )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"api_id": str(uuid.uuid4()), "error": message}, status_code=status, headers=headers)
