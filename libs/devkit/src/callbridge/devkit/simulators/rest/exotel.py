"""Exotel's Voice v1 API for one account, simulated: Connect Voice AI (outbound calls, exotel_calls.py) and a
call's details.

``GET /v1/Accounts/{sid}/Calls/{CallSid}.json`` returns ``{"Call": {"Sid", "Status", …}}``; an unknown call
is 404. HTTP Basic with the API key and token; anything else is 401. Errors are Exotel's v1 JSON,
``{"RestException": {"Status", "Message"}}``. Exotel has no API to hang up a call in a flow, so neither has
this simulator.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Unpack

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callbridge.devkit.simulators.rest import exotel_calls
from callbridge.devkit.simulators.rest.base import AccountOptions, SimulatedRestApi, basic_auth, same_secret

SUBDOMAIN = "api.exotel.com"
"""What the imported config names as the account's region; ``CALLBRIDGE_EXOTEL_API_URL`` points callbridge
at the simulated API instead."""


class ExotelRestApi(SimulatedRestApi):
    name = "Exotel"
    live_status = "in-progress"

    def __init__(
        self,
        account_sid: str,
        api_key: str,
        api_token: str,
        *,
        webhook_secret: str | None = None,
        **options: Unpack[AccountOptions],
    ) -> None:
        """``webhook_secret`` is not the account's but callbridge's (Exotel signs nothing): the one to
        import with it, so that the status callbacks of ``telephony_config`` can be verified."""
        super().__init__(**options)
        self.account_sid = account_sid
        self._api_key = api_key
        self._api_token = api_token
        self.webhook_secret = webhook_secret or secrets.token_urlsafe(32)

    def telephony_config(self) -> dict[str, Any]:
        return {
            "accountSid": self.account_sid,
            "apiKey": self._api_key,
            "apiToken": self._api_token,
            "subdomain": SUBDOMAIN,
            "webhookSecret": self.webhook_secret,
        }

    def routes(self) -> list[Route]:
        return [
            Route("/v1/Accounts/{sid}/Calls/connect", self._dial, methods=["POST"]),
            Route("/v1/Accounts/{sid}/Calls/connect.json", self._dial, methods=["POST"]),
            Route("/v1/Accounts/{sid}/Calls/{call_sid}.json", self._call, methods=["GET"]),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return _error(status, message, headers)

    async def _dial(self, request: Request) -> Response:
        return await exotel_calls.dial(self, request)

    def authorized(self, request: Request, account: str) -> bool:
        credentials = basic_auth(request)
        return (
            credentials is not None
            and account == self.account_sid
            and same_secret(credentials[0], self._api_key)
            and same_secret(credentials[1], self._api_token)
        )

    async def _call(self, request: Request) -> JSONResponse:
        sid = request.path_params["sid"]
        if not await self.received(request, sid):
            return _error(401, "Authentication is required to view this page.")
        call = self.calls.get(request.path_params["call_sid"])
        if call is None:
            return _error(404, "Call not found")
        now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")  # Exotel's local-time format
        return JSONResponse(
            {
                "Call": {
                    "Sid": call.call_id,
                    "ParentCallSid": None,
                    "DateCreated": now,
                    "DateUpdated": now,
                    "AccountSid": sid,
                    "To": "08012345678",
                    "From": "09876543210",
                    "Status": call.status,
                    "Direction": "inbound",
                    "Uri": request.url.path,
                }
            }
        )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"RestException": {"Status": status, "Message": message}}, status_code=status, headers=headers
    )
