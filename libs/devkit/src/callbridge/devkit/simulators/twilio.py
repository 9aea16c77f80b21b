"""A Twilio stand-in: places simulated inbound calls to a callbridge deployment, no Twilio account needed.

It does what Twilio does on an incoming call to a number whose voice URL is the `webhooks` service
(/work/shared/reference/provider-protocols.md §1 and §5.1):

1. POSTs the signed incoming-call webhook (`X-Twilio-Signature`) and parses the TwiML answer (twiml.py);
2. opens the `<Connect><Stream>` WebSocket, its upgrade signed over the `wss://` URL (§1.5);
3. sends `connected`, `start`, then 20 ms `media` frames in real time from a WAV file or a generated signal,
   plus any `dtmf`, while playing the server's audio and echoing its marks as Twilio does (twilio_wire.py,
   run by session.py);
4. ends with `stop` (or records the server closing first) and returns a `StreamRecording`.

Typical use::

    simulator = TwilioSimulator("https://localhost:8000/twilio/voice", auth_token, account_sid)
    call = await simulator.place_call(tone(440.0, 2.0), from_number="+15550001111", to_number="+15550002222")
    delay = delay_samples(call.recording.sent_audio, call.recording.heard)
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Unpack
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from callbridge.devkit.simulators.audio_codec import PCMU_8K, AudioCodec
from callbridge.devkit.simulators.base import (
    FORM_CONTENT_TYPE,
    ProviderSimulator,
    SimulatedCall,
    SimulatorOptions,
    StreamSetup,
)
from callbridge.devkit.simulators.caller_audio import AudioSource, CallerAudio
from callbridge.devkit.simulators.twilio_wire import DTMF_DIGITS, TwilioWire
from callbridge.devkit.simulators.twiml import TwiMLAnswer, parse_twiml

__all__ = ["AudioSource", "CallerAudio", "SimulatedCall", "TwilioSimulator", "new_sid"]

TWILIO_API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix (CA call, MZ stream, AC account) and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


class TwilioSimulator(ProviderSimulator[TwiMLAnswer]):
    """Places simulated Twilio calls to one voice webhook, signed with one account's auth token."""

    user_agent = "callbridge-twilio-simulator/1"
    dtmf_digits = DTMF_DIGITS

    def __init__(
        self, webhook_url: str, auth_token: str, account_sid: str, **options: Unpack[SimulatorOptions]
    ) -> None:
        """Set up a simulator; nothing is opened until a call is placed.

        ``options`` are `ProviderSimulator`'s (HTTP client, timeouts, TLS); ``allow_insecure_ws`` accepts a
        ``ws://`` stream URL from a local stack, which real Twilio refuses (error 31922).
        """
        super().__init__(webhook_url, **options)
        self.account_sid = account_sid
        self._validator = RequestValidator(auth_token)

    def incoming_call_params(
        self,
        *,
        call_sid: str,
        from_number: str,
        to_number: str,
        extra_params: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The form fields Twilio posts to the voice URL for a new inbound call (§1.4)."""
        params = {
            "CallSid": call_sid,
            "AccountSid": self.account_sid,
            "From": from_number,
            "To": to_number,
            "Caller": from_number,
            "Called": to_number,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": TWILIO_API_VERSION,
        }
        params.update(extra_params or {})
        return params

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """`X-Twilio-Signature` for a request to ``url`` with form ``params`` (§5.1), by the official SDK."""
        return str(self._validator.compute_signature(url, dict(params)))

    async def incoming_call(
        self, *, from_number: str, to_number: str, extra_params: Mapping[str, str] | None = None
    ) -> TwiMLAnswer:
        """POST the signed incoming-call webhook and parse its `<Connect><Stream>` TwiML.

        Raises WebhookUnreachableError, WebhookRejectedError (any status but 200, with status and body)
        or TwiMLError.
        """
        call_sid = new_sid("CA")
        params = self.incoming_call_params(
            call_sid=call_sid, from_number=from_number, to_number=to_number, extra_params=extra_params
        )
        headers = {SIGNATURE_HEADER: self.sign(self.webhook_url, params), "Content-Type": FORM_CONTENT_TYPE}
        response = await self._request_webhook(
            "POST", self.webhook_url, headers=headers, content=urlencode(params).encode()
        )
        return parse_twiml(
            response.text,
            call_sid=call_sid,
            webhook_url=self.webhook_url,
            allow_insecure_ws=self._allow_insecure_ws,
        )

    def inbound_codec(self, answer: TwiMLAnswer) -> AudioCodec:
        return PCMU_8K  # always μ-law at 8 kHz, both ways (§1.2)

    def _stream_setup(self, answer: TwiMLAnswer) -> StreamSetup:
        wire = TwilioWire(
            account_sid=self.account_sid,
            call_sid=answer.call_sid,
            stream_sid=new_sid("MZ"),
            custom_parameters=dict(answer.parameters),
        )
        # §1.5: the WebSocket upgrade is signed too, over the wss:// URL with no parameters.
        headers = {SIGNATURE_HEADER: self.sign(answer.stream_url, {})}
        return StreamSetup(answer.stream_url, headers, wire, inbound=PCMU_8K, outbound=PCMU_8K)
