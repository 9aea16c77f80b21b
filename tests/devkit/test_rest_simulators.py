"""The simulated provider REST APIs speak each provider's documented paths, authentication and error bodies,
checked with plain HTTP requests written from the documentation (not with callbridge's clients)."""

from __future__ import annotations

import httpx

from callbridge.devkit.simulators.rest import ExotelRestApi, PlivoRestApi, TelnyxRestApi, TwilioRestApi

TWILIO_SID, TWILIO_TOKEN = "AC" + "c" * 32, "twilio-token-sim-tests"
CALL_SID = "CA" + "2" * 32


async def test_twilio_hang_up_then_404_20404_and_basic_auth() -> None:
    api = TwilioRestApi(TWILIO_SID, TWILIO_TOKEN)
    api.add_call(CALL_SID)
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Calls/{CALL_SID}.json"
    async with api.serve() as base_url, httpx.AsyncClient(base_url=base_url) as http:
        refused = await http.post(path, data={"Status": "completed"}, auth=(TWILIO_SID, "wrong"))
        assert refused.status_code == 401
        assert refused.json()["code"] == 20003
        ended = await http.post(path, data={"Status": "completed"}, auth=(TWILIO_SID, TWILIO_TOKEN))
        assert ended.status_code == 200
        assert (ended.json()["sid"], ended.json()["status"]) == (CALL_SID, "completed")
        again = await http.post(path, data={"Status": "completed"}, auth=(TWILIO_SID, TWILIO_TOKEN))
        assert again.status_code == 404
        assert again.json() == {
            "code": 20404,
            "message": f"The requested resource {path} was not found",
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        }
        fetched = await http.get(path, auth=(TWILIO_SID, TWILIO_TOKEN))
        assert fetched.json()["status"] == "completed"
        other_account = f"/2010-04-01/Accounts/AC{'d' * 32}/Calls/{CALL_SID}.json"
        assert (await http.get(other_account, auth=(TWILIO_SID, TWILIO_TOKEN))).status_code == 401
    assert [request.authorized for request in api.requests] == [False, True, True, True, False]


async def test_telnyx_hang_up_then_422_90018_with_a_bearer_key() -> None:
    api = TelnyxRestApi("KEY-sim-tests")
    api.add_call("v3:live")
    async with api.serve() as base_url, httpx.AsyncClient(base_url=base_url) as http:
        hang_up = "/v2/calls/v3:live/actions/hangup"
        refused = await http.post(hang_up, json={}, headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["code"] == "10009"
        bearer = {"Authorization": "Bearer KEY-sim-tests"}
        assert (await http.get("/v2/calls/v3:live", headers=bearer)).json()["data"]["is_alive"] is True
        assert (await http.post(hang_up, json={}, headers=bearer)).status_code == 200
        ended = await http.post(hang_up, json={}, headers=bearer)
        assert ended.status_code == 422
        assert ended.json()["errors"][0]["code"] == "90018"
        assert (await http.get("/v2/calls/v3:live", headers=bearer)).json()["data"]["is_alive"] is False
        unknown = await http.get("/v2/calls/v3:other", headers=bearer)
        assert unknown.status_code == 404


async def test_plivo_delete_204_then_404_live_and_record() -> None:
    api = PlivoRestApi("MASIM000000000000000", "plivo-token-sim")
    api.add_call("uuid-1")
    auth = ("MASIM000000000000000", "plivo-token-sim")
    call = "/v1/Account/MASIM000000000000000/Call/uuid-1/"
    async with api.serve() as base_url, httpx.AsyncClient(base_url=base_url) as http:
        refused = await http.delete(call, auth=("MASIM000000000000000", "wrong"))
        assert refused.status_code == 401
        assert set(refused.json()) == {"api_id", "error"}
        live = await http.get(call, params={"status": "live"}, auth=auth)
        assert live.json()["call_status"] == "in-progress"
        assert (await http.get(call, auth=auth)).status_code == 404  # no record while it is live
        deleted = await http.delete(call, auth=auth)
        assert (deleted.status_code, deleted.content) == (204, b"")
        assert (await http.delete(call, auth=auth)).status_code == 404
        assert (await http.get(call, params={"status": "live"}, auth=auth)).status_code == 404
        record = await http.get(call, auth=auth)
        assert record.json()["hangup_source"] == "API Request"


async def test_exotel_call_details_with_basic_auth_and_rest_exception_errors() -> None:
    api = ExotelRestApi("sim-sid", "sim-key", "sim-token")
    api.add_call("abc123")
    async with api.serve() as base_url, httpx.AsyncClient(base_url=base_url) as http:
        path = "/v1/Accounts/sim-sid/Calls/abc123.json"
        refused = await http.get(path, auth=("sim-key", "wrong"))
        assert refused.status_code == 401
        assert refused.json()["RestException"]["Status"] == 401
        details = await http.get(path, auth=("sim-key", "sim-token"))
        assert details.json()["Call"]["Sid"] == "abc123"
        assert details.json()["Call"]["Status"] == "in-progress"
        missing = await http.get("/v1/Accounts/sim-sid/Calls/nope.json", auth=("sim-key", "sim-token"))
        assert missing.status_code == 404
        assert missing.json() == {"RestException": {"Status": 404, "Message": "Call not found"}}
