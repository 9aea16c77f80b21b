"""What a Telnyx outbound call asks for (reference §2.1, §2.4): ``POST /v2/calls`` through the Call Control
application whose id the config holds (``applicationSid``), streaming to the join URL in RTP mode with the
same codec both ways (what an incoming call's TeXML asks for: L16 at 16 kHz unless the call or the config
says otherwise), its events posted to callbridge, and ``command_id`` = callbridge's call id, so a dial that
is sent twice places one call.

Pure: no SDK here (rest.py sends it), so the webhooks service can check ``additionalParams`` at call
creation without the two-second import of Telnyx's SDK.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from callbridge.common.models.medium import Provider, TelnyxMedium
from callbridge.telephony.errors import InvalidDialRequest
from callbridge.telephony.rest.client import DialRequest
from callbridge.telephony.rest.params import check_additional_params
from callbridge.telephony.telnyx.credentials import StoredTelnyxConfig
from callbridge.telephony.telnyx.webhooks import TelnyxAudio, choose_audio

RESERVED_PARAMS = frozenset(
    {
        "connection_id",
        "from",
        "to",
        "stream_url",
        "stream_track",
        "stream_codec",
        "stream_bidirectional_mode",
        "stream_bidirectional_codec",
        "stream_bidirectional_sampling_rate",
        "webhook_url",
        "webhook_url_method",
        "command_id",
    }
)
"""What callbridge sets on every call: ``additionalParams`` may not. ``timeout_secs`` too when the dial gives
a ring timeout."""
RING_TIMEOUT_PARAM = "timeout_secs"
STREAM_TRACK = "inbound_track"
"""The callee's audio only: the agent's own voice must not come back to it."""


def reserved_params(request: DialRequest) -> frozenset[str]:
    if request.ring_timeout_s is None:
        return RESERVED_PARAMS
    return RESERVED_PARAMS | {RING_TIMEOUT_PARAM}


def dial_audio(request: DialRequest, config: StoredTelnyxConfig) -> TelnyxAudio:
    """The call's codec and rate (``request.codec``/``sample_rate_hz``, else the config's, else L16 at
    16 kHz), chosen as for an incoming call; a pair Telnyx does not stream is ``InvalidDialRequest``."""
    if request.codec is None and request.sample_rate_hz is None:
        return choose_audio(None, config)
    try:
        medium = TelnyxMedium.model_validate({"codec": request.codec, "sampleRate": request.sample_rate_hz})
    except ValidationError as exc:
        reasons = "; ".join(error["msg"] for error in exc.errors())
        raise InvalidDialRequest(Provider.TELNYX, f"Telnyx cannot stream this audio: {reasons}") from None
    return choose_audio(medium, config)


def dial_params(request: DialRequest, config: StoredTelnyxConfig) -> dict[str, Any]:
    """The dial's JSON fields, in Telnyx's names, without ``additionalParams`` (checked here; rest.py sends
    them along)."""
    check_additional_params(Provider.TELNYX, request.additional_params, reserved_params(request))
    if not config.application_sid:
        raise InvalidDialRequest(
            Provider.TELNYX,
            "the Telnyx config has no applicationSid: import the id of the Call Control application "
            "(connection) that places calls",
        )
    audio = dial_audio(request, config)
    params: dict[str, Any] = {
        "connection_id": config.application_sid,
        "from": request.from_,
        "to": request.to,
        "stream_url": request.join_url,
        "stream_track": STREAM_TRACK,
        # Equal codecs both ways: Telnyx's `start` announces only one of them (as the TeXML's, webhooks.py).
        "stream_codec": audio.codec.value,
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": audio.codec.value,
        "stream_bidirectional_sampling_rate": audio.sample_rate_hz,
        "webhook_url": request.status_callback_url,
        "webhook_url_method": "POST",
        "command_id": str(request.call_id),
    }
    if request.ring_timeout_s is not None:
        params[RING_TIMEOUT_PARAM] = request.ring_timeout_s
    return params
