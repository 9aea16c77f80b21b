"""The simulated accounts' create-call endpoints speak each provider's documented paths, authentication,
answers and error bodies, checked with plain HTTP requests written from the documentation (not with
callbridge's clients)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx

from callbridge.devkit.simulators.rest import (
    CalleeScript,
    ExotelRestApi,
    PlivoRestApi,
    TelnyxRestApi,
    TwilioRestApi,
)

BUSY = CalleeScript.parse(["*=busy"])
SID, TOKEN = "AC" + "c" * 32, "twilio-token-sim-tests"
TWIML = '<Response><Connect><Stream url="wss://example.com/s"/></Connect><Hangup/></Response>'


async def test_twilio_creates_a_queued_call_and_answers_its_documented_errors() -> None:
    api = TwilioRestApi(SID, TOKEN, script=CalleeScript.parse(["+15550000429=rate_limited(3)", "*=busy"]))
    path = f"/2010-04-01/Accounts/{SID}/Calls.json"
    call = {"To": "+15550001111", "From": "+15550002222", "Twiml": TWIML}
    async with api.serve() as base_url, httpx.AsyncClient(base_url=base_url, auth=(SID, TOKEN)) as http:
        created = await http.post(path, data=call)
        assert created.status_code == 201
        resource = created.json()
        assert (resource["status"], resource["direction"]) == ("queued", "outbound-api")
        assert resource["sid"].startswith("CA")
        assert resource["uri"] == f"/2010-04-01/Accounts/{SID}/Calls/{resource['sid']}.json"
        fetched = await http.get(resource["uri"])
        assert fetched.json()["sid"] == resource["sid"]
        refused = await http.post(path, data=call, auth=(SID, "wrong"))
        assert (refused.status_code, refused.json()["code"]) == (401, 20003)
        no_to = await http.post(path, data={"From": "+15550002222", "Twiml": TWIML})
        assert (no_to.status_code, no_to.json()["code"]) == (400, 21201)
        bad_timeout = await http.post(path, data={**call, "Timeout": "601"})
        assert (bad_timeout.status_code, bad_timeout.json()["code"]) == (400, 21208)
        limited = await http.post(path, data={**call, "To": "+15550000429"})
        assert (limited.status_code, limited.json()["code"]) == (429, 20429)
        assert limited.headers["retry-after"] == "3"
    assert len(api.outbound.calls) == 1


async def test_telnyx_dials_with_its_error_codes_and_source_pointers() -> None:
    api = TelnyxRestApi("KEY-sim-tests", connection_id="123", script=BUSY)
    dial = {"connection_id": "123", "from": "+15550002222", "to": "+15550001111"}
    bearer = {"Authorization": "Bearer KEY-sim-tests"}
    async with api.serve() as base_url, httpx.AsyncClient(base_url=base_url, headers=bearer) as http:
        created = await http.post("/v2/calls", json=dial)
        assert created.status_code == 200
        data = created.json()["data"]
        assert data["call_control_id"].startswith("v3:")
        assert (data["is_alive"], data["record_type"]) == (False, "call")
        refused = await http.post("/v2/calls", json=dial, headers={"Authorization": "Bearer nope"})
        assert refused.json()["errors"][0]["code"] == "10009"
        missing = await http.post("/v2/calls", json={**dial, "to": ""})
        assert missing.status_code == 422
        assert missing.json()["errors"][0] == {
            "code": "10004",
            "title": "Missing required parameter",
            "detail": "The 'to' parameter is required.",
            "source": {"pointer": "/to"},
        }
        local = await http.post("/v2/calls", json={**dial, "to": "5550001111"})
        assert local.json()["errors"][0]["code"] == "10016"
        other_app = await http.post("/v2/calls", json={**dial, "connection_id": "999"})
        assert other_app.json()["errors"][0]["source"] == {"pointer": "/connection_id"}
        mp3 = await http.post("/v2/calls", json={**dial, "stream_url": "wss://example.com/s"})
        assert "rtp" in mp3.json()["errors"][0]["detail"]  # MP3 mode: Telnyx would ignore raw audio
        short = await http.post("/v2/calls", json={**dial, "timeout_secs": 4})
        assert short.json()["errors"][0]["source"] == {"pointer": "/timeout_secs"}
    assert len(api.outbound.calls) == 1


async def test_plivo_fires_a_call_from_json_or_a_form() -> None:
    api = PlivoRestApi("MASIM000000000000000", "plivo-token-sim", script=BUSY)
    path = "/v1/Account/MASIM000000000000000/Call/"
    call = {"from": "14155550100", "to": "14155550199", "answer_url": "https://example.com/answer"}
    auth = ("MASIM000000000000000", "plivo-token-sim")
    async with api.serve() as base_url, httpx.AsyncClient(base_url=base_url, auth=auth) as http:
        fired = await http.post(path, json=call)
        assert fired.status_code == 201
        assert set(fired.json()) == {"api_id", "message", "request_uuid"}
        assert fired.json()["message"] == "call fired"
        as_form = await http.post(path, data=call)
        assert as_form.status_code == 201
        missing = await http.post(path, json={"from": "14155550100", "to": "14155550199"})
        assert missing.status_code == 400
        assert missing.json()["error"] == "answer_url is required"
        refused = await http.post(path, json=call, auth=("MASIM000000000000000", "wrong"))
        assert (refused.status_code, set(refused.json())) == (401, {"api_id", "error"})
    assert {call.request_id for call in api.outbound.calls.values()} == {
        fired.json()["request_uuid"],
        as_form.json()["request_uuid"],
    }


async def test_exotel_connects_voice_ai_calls_answering_json_or_its_xml() -> None:
    api = ExotelRestApi("sim-sid", "sim-key", "sim-token", script=BUSY)
    call = {
        "From": "+919876543210",
        "CallerId": "08047491899",
        "StreamType": "bidirectional",
        "StreamUrl": "wss://bot.example.com/media?sample-rate=16000",
    }
    async with (
        api.serve() as base_url,
        httpx.AsyncClient(base_url=base_url, auth=("sim-key", "sim-token")) as http,
    ):
        as_json = await http.post("/v1/Accounts/sim-sid/Calls/connect.json", data=call)
        assert as_json.status_code == 200
        resource = as_json.json()["Call"]
        assert (resource["Status"], resource["Direction"]) == ("in-progress", "outbound-api")
        as_xml = await http.post("/v1/Accounts/sim-sid/Calls/connect", data=call)
        root = ET.fromstring(as_xml.text)  # noqa: S314  the simulator's own answer
        assert root.tag == "TwilioResponse"
        assert root.findtext("Call/Sid") in api.outbound.calls
        lower_case = await http.post(
            "/v1/Accounts/sim-sid/Calls/connect.json",
            data={name.lower(): value for name, value in call.items()},
        )
        assert lower_case.status_code == 200
        flow = await http.post(
            "/v1/Accounts/sim-sid/Calls/connect.json", data={**call, "Url": "http://my.exotel.com/x"}
        )
        assert flow.status_code == 400
        assert "Connect Voice AI" in flow.json()["RestException"]["Message"]
        no_caller = await http.post("/v1/Accounts/sim-sid/Calls/connect.json", data={"From": "+919876543210"})
        assert no_caller.json() == {
            "RestException": {"Status": 400, "Message": "From and CallerId are mandatory"}
        }
        refused = await http.post("/v1/Accounts/sim-sid/Calls/connect.json", data=call, auth=("sim-key", "x"))
        assert refused.status_code == 401
    assert len(api.outbound.calls) == 3
