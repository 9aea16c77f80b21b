"""A phone menu on the simulated callee's side: it says its prompt, listens for keys pressed in band in what
it hears, and answers the key with that option's reply ("press 1 for sales" ... "sales, please hold"). Keys
the provider passes out of band (sent through the account's REST API: ``pressed``) are answered the same way.

An IVR hears keys as tones in the call's audio (in band) unless the provider passes them out of band, so the
menu runs a DTMF receiver on the server's audio as the provider received it, decoded at the outbound rate:
the simulators' own (dtmf_reader.py), sharing no code with media's detector. Prompt and replies are tones
(no speech engine needed): each option's reply has its own frequency, so a test tells from what the agent
hears which option the menu chose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from callbridge.devkit.signals import tone
from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.devkit.simulators.caller_audio import CallerAudio
from callbridge.devkit.simulators.dtmf_reader import DtmfReader

__all__ = ["DEFAULT_REPLIES_HZ", "INVALID_OPTION_HZ", "MenuScript", "PhoneMenu", "Responder"]

DEFAULT_REPLIES_HZ: Mapping[str, float] = {"1": 1100.0, "2": 1300.0}
"""Option 1 (sales) and option 2 (support), each answered with its own tone."""
INVALID_OPTION_HZ = 350.0
"""The reply to a key the menu has no option for ("that is not a valid option")."""
REPLY_DBFS = -12.0


class Responder(Protocol):
    """A callee that reacts to what it hears (simulators/session.py asks it for each inbound frame)."""

    def hears(self, pcm: npt.NDArray[np.int16]) -> str:
        """The server's audio as the provider received it, at the outbound rate; answers the keys
        recognised in it (usually none)."""
        ...

    def says(self, index: int) -> bytes | None:
        """The base64 payload of inbound frame ``index``; None: the stream's own audio (the prompt)."""
        ...


@dataclass(frozen=True, slots=True)
class MenuScript:
    """What the menu says: the prompt is the stream's audio; each key's reply a tone of ``reply_s``."""

    replies_hz: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_REPLIES_HZ))
    reply_s: float = 1.5


class PhoneMenu:
    """One call's menu: hears in band at ``outbound``'s rate, says in ``inbound``'s codec and frames."""

    def __init__(self, script: MenuScript, inbound: AudioCodec, frame_ms: int, outbound: AudioCodec) -> None:
        self._script = script
        self._inbound = inbound
        self._frame_ms = frame_ms
        self._reader = DtmfReader(outbound.sample_rate_hz)
        self._reply: CallerAudio | None = None
        self._reply_from: int | None = None
        self.keys_heard = ""
        self.keys_pressed = ""

    def hears(self, pcm: npt.NDArray[np.int16]) -> str:
        keys = self._reader.feed(pcm)
        if keys:
            self.keys_heard += keys
            self._answer(keys[-1])
        return keys

    def pressed(self, digits: str) -> None:
        """Keys the provider passed out of band (its REST API's DTMF, rest/line.py): answered as heard
        ones, recorded in ``keys_pressed`` (not ``keys_heard``: nothing was heard)."""
        keys = "".join(char for char in digits if char not in "wW")
        if keys:
            self.keys_pressed += keys
            self._answer(keys[-1])

    def _answer(self, key: str) -> None:
        frequency = self._script.replies_hz.get(key, INVALID_OPTION_HZ)
        rate = self._inbound.sample_rate_hz
        pcm_reply = tone(frequency, self._script.reply_s, rate, REPLY_DBFS)
        self._reply = CallerAudio.from_pcm(pcm_reply, self._inbound, self._frame_ms)
        self._reply_from = None  # from the next frame due

    def says(self, index: int) -> bytes | None:
        reply = self._reply
        if reply is None:
            return None
        if self._reply_from is None:
            self._reply_from = index
        offset = index - self._reply_from
        return reply.payloads[offset] if offset < len(reply.payloads) else reply.silence_payload
