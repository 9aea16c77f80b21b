"""A Telnyx stand-in: simulated inbound TeXML calls with a bidirectional RTP media stream.

What Telnyx does on an incoming call to a TeXML application whose voice URL is callbridge
(/work/shared/reference/provider-protocols.md §2 and §5.2):

1. POSTs the incoming-call webhook, form-encoded, signed with Ed25519 (`telnyx-signature-ed25519` over
   ``f"{timestamp}|{raw_body}"``, `telnyx-timestamp`), and parses the TeXML answer (texml.py);
2. opens the `<Stream>` WebSocket and sends `connected`, `start` (snake_case, `stream_id` top-level), then
   `media` every 20 ms in the inbound codec, optionally out of order, plus `dtmf` and injected `error`s;
3. plays the server's `media` in the `bidirectionalCodec` at its rate, flagging chunks under 20 ms, and
   echoes marks on play and on `clear` (telnyx_wire.py);
4. ends with `stop` and returns a `StreamRecording`.

Typical use::

    simulator = TelnyxSimulator(webhook_url, private_key=seed_bytes, allow_insecure_ws=True)
    config_public_key = simulator.public_key_base64   # what callbridge's Telnyx config holds
    call = await simulator.place_call(tone(440.0, 2.0, 16000))
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Unpack
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding as KeyEncoding
from cryptography.hazmat.primitives.serialization import PublicFormat

from callbridge.devkit.simulators.audio_codec import AudioCodec, ByteOrder, Encoding, encoding_named
from callbridge.devkit.simulators.base import (
    FORM_CONTENT_TYPE,
    ProviderSimulator,
    SimulatorOptions,
    StreamSetup,
)
from callbridge.devkit.simulators.telnyx_wire import (
    TelnyxStreamError,
    TelnyxWire,
    frame_delays,
    new_stream_id,
)
from callbridge.devkit.simulators.texml import TeXMLAnswer, parse_texml

__all__ = ["TeXMLAnswer", "TelnyxSimulator", "TelnyxStreamError", "private_key_from_seed"]

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
_SEED_BYTES = 32
_DEFAULT_CALL_CODEC: Encoding = "PCMU"  # a US PSTN leg (§2.6); what TeXML codec="default" streams


def private_key_from_seed(seed: str | bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from its 32-byte seed: raw bytes, or text in hex (64 digits) or base64."""
    if isinstance(seed, str):
        text = seed.strip()
        try:
            seed = (
                bytes.fromhex(text) if len(text) == 2 * _SEED_BYTES else base64.b64decode(text, validate=True)
            )
        except (ValueError, binascii.Error) as exc:
            raise ValueError("an Ed25519 seed is 32 bytes in hex (64 digits) or base64") from exc
    if len(seed) != _SEED_BYTES:
        raise ValueError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


class TelnyxSimulator(ProviderSimulator[TeXMLAnswer]):
    """Places simulated Telnyx TeXML calls to one voice webhook, signed with one Ed25519 key."""

    user_agent = "callbridge-telnyx-simulator/1"

    def __init__(
        self,
        webhook_url: str,
        *,
        private_key: Ed25519PrivateKey | bytes | str | None = None,
        account_sid: str | None = None,
        inbound_codec: Encoding | None = None,
        l16_byte_order: ByteOrder = "big",
        reorder_probability: float = 0.0,
        reorder_max_displacement: int = 2,
        reorder_seed: int | None = None,
        error_frames: Sequence[tuple[float, TelnyxStreamError]] = (),
        clock: Callable[[], float] = time.time,
        **options: Unpack[SimulatorOptions],
    ) -> None:
        """Set up a simulator; nothing is opened until a call is placed (see `ProviderSimulator`).

        ``private_key`` signs the webhooks: a key, its 32-byte seed, or the seed in hex or base64; a new
        key when None (import ``public_key_base64`` as the Telnyx config's public key).
        ``inbound_codec`` is what Telnyx actually streams and announces in `start.media_format`: by default
        the TeXML `codec`, and PCMU for ``default``; set it to simulate §2.1's fallback to the call codec.
        ``l16_byte_order`` applies to L16 both ways; Telnyx does not document it (§2.5, §7.1), so the
        default is big-endian, RFC 3551's network order for L16 in RTP, which the payload is ("RTP payload
        (no headers)", §2.2). ``reorder_probability`` holds frames back by up to
        ``reorder_max_displacement`` places (seeded by ``reorder_seed``) to exercise reordering (§2.2).
        ``error_frames`` are (seconds from stream start, error) to send as `error` frames. ``clock`` gives
        the unix time for `telnyx-timestamp`.
        """
        super().__init__(webhook_url, **options)
        if private_key is None:
            private_key = Ed25519PrivateKey.generate()
        elif not isinstance(private_key, Ed25519PrivateKey):
            private_key = private_key_from_seed(private_key)
        frame_delays(reorder_probability, reorder_max_displacement, reorder_seed)  # validates the options
        self._private_key = private_key
        self.account_sid = account_sid or str(uuid.uuid4())
        self._inbound_codec = inbound_codec
        self._l16_byte_order = l16_byte_order
        self._reorder = (reorder_probability, reorder_max_displacement, reorder_seed)
        self._error_frames = tuple(error_frames)
        self._clock = clock

    @property
    def public_key_base64(self) -> str:
        """The public key as Telnyx shows it: base64 of the 32 raw bytes (§5.2)."""
        raw = self._private_key.public_key().public_bytes(KeyEncoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")

    def sign(self, timestamp: int, body: bytes | str) -> str:
        """`telnyx-signature-ed25519`: base64 Ed25519 over UTF-8 ``f"{timestamp}|{raw_body}"`` (§5.2)."""
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return base64.b64encode(self._private_key.sign(f"{timestamp}|{text}".encode())).decode("ascii")

    def incoming_call_params(
        self,
        *,
        call_sid: str,
        from_number: str,
        to_number: str,
        extra_params: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The form fields of a TeXML incoming-call webhook (the callbridge webhook contract)."""
        params = {
            "AccountSid": self.account_sid,
            "CallSid": call_sid,
            "From": from_number,
            "To": to_number,
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        params.update(extra_params or {})
        return params

    async def incoming_call(
        self, *, from_number: str, to_number: str, extra_params: Mapping[str, str] | None = None
    ) -> TeXMLAnswer:
        """POST the signed webhook and parse its TeXML; raises Webhook*Error or AnswerError."""
        call_sid = "v3:" + secrets.token_urlsafe(32)  # a call_control_id, which TeXML posts as CallSid
        params = self.incoming_call_params(
            call_sid=call_sid, from_number=from_number, to_number=to_number, extra_params=extra_params
        )
        body = urlencode(params).encode()  # signed byte for byte: the server must verify the raw body
        timestamp = int(self._clock())
        headers = {
            SIGNATURE_HEADER: self.sign(timestamp, body),
            TIMESTAMP_HEADER: str(timestamp),
            "Content-Type": FORM_CONTENT_TYPE,
        }
        response = await self._request_webhook("POST", self.webhook_url, headers=headers, content=body)
        return parse_texml(
            response.text,
            call_sid=call_sid,
            from_number=from_number,
            to_number=to_number,
            webhook_url=self.webhook_url,
            allow_insecure_ws=self._allow_insecure_ws,
        )

    def inbound_codec(self, answer: TeXMLAnswer) -> AudioCodec:
        encoding = self._inbound_codec or encoding_named(answer.codec) or _DEFAULT_CALL_CODEC
        # §2.1: G.711 is 8 kHz; L16 is documented at 16 kHz only.
        return AudioCodec(encoding, 16000 if encoding == "L16" else 8000, self._l16_byte_order)

    def _stream_setup(self, answer: TeXMLAnswer) -> StreamSetup:
        inbound = self.inbound_codec(answer)
        outbound = AudioCodec(answer.bidirectional_codec, answer.bidirectional_rate_hz, self._l16_byte_order)
        wire = TelnyxWire(
            call_control_id=answer.call_sid,
            stream_id=new_stream_id(),
            from_number=answer.from_number,
            to_number=answer.to_number,
            custom_parameters=dict(answer.parameters),
            inbound=inbound,
            outbound=outbound,
            frame_ms=20,
        )
        probability, max_displacement, seed = self._reorder
        return StreamSetup(
            answer.stream_url,
            {},  # how stream_auth_token reaches the socket is undocumented (§2.1); nothing is sent
            wire,
            inbound=inbound,
            outbound=outbound,
            injected=[(at_s, wire.error_frame(error)) for at_s, error in self._error_frames],
            frame_delay=frame_delays(probability, max_displacement, seed) if probability > 0 else None,
        )
