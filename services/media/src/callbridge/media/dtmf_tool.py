"""``playDtmfSounds``: the agent presses keys on the phone (a phone menu's "press 1 for sales").

Parameters (reference: ultravox-api §5.4): ``digits`` from the agent (``0-9 * # A-D``, and ``w`` = 0.5 s,
``W`` = 1 s pauses, as dialers write them), and the static ``toneDuration`` (default ``"0.2s"``) and
``spaceDuration`` (default ``"0.1s"``) from the call's ``selectedTools`` ``parameterOverrides``, which win
over the agent's. A parameter that cannot be used is answered with a tool error saying why; the call goes
on.

Out of band, where the provider's API can press keys (Telnyx, Plivo), through an :class:`OutOfBandDtmf`
the tool is given (a call-control command to the transfer service); without one, or when it declines the
call, in band: the ITU-T Q.23 tones synthesised at the stream's rate, encoded in its codec and played
through the call's playout, with the agent's audio and barge-in held meanwhile (own_audio.py). The tool is
answered once the provider has echoed the marks after the last tone, i.e. the callee heard every key.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Protocol
from uuid import UUID

from callbridge.common.dtmf import key_duration_s
from callbridge.media.audio.dtmf_tones import (
    DEFAULT_SPACE_S,
    DEFAULT_TONE_S,
    DIGITS,
    PAUSES_S,
    check_digits,
    synthesize,
)
from callbridge.media.control import CallControl, RenderAudio
from callbridge.media.tool_replies import tool_error, tool_result

PLAY_DTMF_SOUNDS_TOOL: Final = "playDtmfSounds"
MAX_DIGITS: Final = 64
"""Keys and pauses in one invocation: a card number and its PIN, with room to spare."""
MAX_TOTAL_S: Final = 60.0
"""The longest key sequence played in one invocation (the agent's audio waits meanwhile)."""
PLAYED_MARGIN_S: Final = 5.0
"""How long past the tones' expected end the provider may take to report them played."""


class OutOfBandDtmfError(Exception):
    """The provider refused or failed to send the keys out of band; the message is for the agent."""


@dataclass(frozen=True, slots=True)
class OutOfBandResult:
    sent: bool
    """The provider took the keys (the tool is answered); else they play in band."""
    in_band_because: str | None = None
    """Why keys that could have gone out of band play in band (the provider refused them, or did not answer
    in time): the tool's result says so."""


class OutOfBandDtmf(Protocol):
    """Keys through the provider's API instead of the audio (Telnyx ``send_dtmf``, Plivo's DTMF API),
    reached by a call-control command to the transfer service (provider_dtmf.py). The media service's wiring
    gives one to ``default_tools``; none means every call plays its keys in band."""

    async def send_dtmf(
        self, call_id: UUID, digits: str, *, tone_s: float, space_s: float, invocation_id: str | None = None
    ) -> OutOfBandResult:
        """Press ``digits`` on the call. ``sent``: the provider took them (the tool is answered). Not sent:
        the tool plays them in band (the call's provider has no DTMF API, no credentials allow it, or the
        provider refused them: ``in_band_because``). Raises :class:`OutOfBandDtmfError` for a tool error."""
        ...


@dataclass(frozen=True, slots=True)
class DtmfRequest:
    digits: str
    tone_s: float = DEFAULT_TONE_S
    space_s: float = DEFAULT_SPACE_S

    @property
    def duration_s(self) -> float:
        keys = sum(char in DIGITS for char in self.digits)
        return keys * (self.tone_s + self.space_s) + sum(PAUSES_S.get(char, 0.0) for char in self.digits)


def parse_request(parameters: dict[str, Any], overrides: dict[str, Any]) -> DtmfRequest:
    """The request from the agent's parameters and the call's static overrides (which win); ValueError with
    a message for the agent when a parameter cannot be used."""
    merged = {**parameters, **overrides}
    digits = merged.get("digits")
    if not isinstance(digits, str) or not digits:
        raise ValueError("digits is required: the keys to press, such as '1' or '1234#'")
    if len(digits) > MAX_DIGITS:
        raise ValueError(f"digits has {len(digits)} characters; at most {MAX_DIGITS} at a time")
    check_digits(digits)
    if not any(char in DIGITS for char in digits):
        raise ValueError("digits has only pauses (w, W): no key to press")
    request = DtmfRequest(
        digits,
        tone_s=_seconds(merged, "toneDuration", DEFAULT_TONE_S),
        space_s=_seconds(merged, "spaceDuration", DEFAULT_SPACE_S),
    )
    if request.duration_s > MAX_TOTAL_S:
        raise ValueError(f"the keys would take {request.duration_s:.1f} s to play; at most {MAX_TOTAL_S:g} s")
    return request


def _seconds(parameters: dict[str, Any], name: str, default: float) -> float:
    value = parameters.get(name)
    return default if value is None else key_duration_s(name, value)


class PlayDtmfSoundsTool:
    def __init__(self, out_of_band: OutOfBandDtmf | None = None) -> None:
        self._out_of_band = out_of_band

    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        try:
            request = parse_request(parameters, call.tool_overrides(PLAY_DTMF_SOUNDS_TOOL))
        except ValueError as exc:
            await call.send_to_agent(tool_error(invocation_id, f"playDtmfSounds: {exc}"))
            return
        if self._out_of_band is None:
            # In band at once: the agent's audio is held from here, before this reader reads its next chunk.
            played = call.play_own_audio(self._render(request), PLAYED_MARGIN_S)
            call.spawn(self._answer_played(invocation_id, request, played, call), f"dtmf-{invocation_id}")
        else:
            press = self._press_out_of_band(self._out_of_band, invocation_id, request, call)
            call.spawn(press, f"dtmf-{invocation_id}")

    @staticmethod
    def _render(request: DtmfRequest) -> RenderAudio:
        return partial(synthesize, request.digits, tone_s=request.tone_s, space_s=request.space_s)

    async def _press_out_of_band(
        self, out_of_band: OutOfBandDtmf, invocation_id: str, request: DtmfRequest, call: CallControl
    ) -> None:
        """Out of band if the call allows it, else in band (the agent's audio sent while the provider was
        asked then plays before the tones)."""
        try:
            result = await out_of_band.send_dtmf(
                call.call_id,
                request.digits,
                tone_s=request.tone_s,
                space_s=request.space_s,
                invocation_id=invocation_id,
            )
        except OutOfBandDtmfError as exc:
            await call.send_to_agent(tool_error(invocation_id, f"playDtmfSounds: {exc}"))
            return
        if result.sent:
            await call.send_to_agent(tool_result(invocation_id, f"pressed {request.digits}"))
            return
        played = call.play_own_audio(self._render(request), PLAYED_MARGIN_S)
        await self._answer_played(invocation_id, request, played, call, result.in_band_because)

    @staticmethod
    async def _answer_played(
        invocation_id: str,
        request: DtmfRequest,
        played: Awaitable[bool],
        call: CallControl,
        in_band_because: str | None = None,
    ) -> None:
        if await played:
            said = f"pressed {request.digits}"
            if in_band_because is not None:
                said += f" (in band: {in_band_because})"
            await call.send_to_agent(tool_result(invocation_id, said))
        elif not call.ending:
            await call.send_to_agent(
                tool_error(invocation_id, "playDtmfSounds: the provider did not confirm the keys were played")
            )
