"""The caller's key presses from both places they come from, each key once.

A provider reports a key as an event (Twilio, Telnyx, Plivo and Exotel ``dtmf`` messages), and the key's
tones may also be in the caller's audio: a provider that does not report keys (a SIP trunk's in-band
DTMF), or one that reports them and leaves the tones in. :class:`CallerKeys` runs the in-band detector
(audio/dtmf_tones.py) on the caller's decoded audio and takes the provider's events, and passes each key on
once: a key heard in the tones and reported as an event within ``DUPLICATE_WINDOW_S`` of each other, in
either order, is one press. Each press pairs with at most one of the other kind, so ``11`` pressed quickly
is still two keys.

Cost: the detector runs once per ``DETECT_EVERY_MS`` of audio rather than once per 20 ms frame (its numpy
calls cost the same for 20 ms as for 100 ms; measured with ``python -m bench.dtmf``), which delays a
detected key by at most that much: far less than the pause the agent's batching waits for (dtmf.py).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from callbridge.media.audio.dtmf_tones import DtmfDetector

DUPLICATE_WINDOW_S: Final = 1.0
"""A key reported as an event and heard as tones this close together is one press. Providers report a key
when it is released (Twilio) or pressed; a press longer than this is rare, and two presses of the same key
this close together are still told apart by pairing (each press pairs once)."""
DETECT_EVERY_MS: Final = 200


class CallerKeys:
    def __init__(
        self,
        press: Callable[[str], None],
        now: Callable[[], float],
        *,
        rate_hz: int | None,
        echo_possible: Callable[[], bool] = lambda: False,
    ) -> None:
        """``press`` gets each key once; ``now`` is the call's clock; ``rate_hz`` is the caller's audio rate
        (None: no in-band detection, events only); ``echo_possible`` says when keys heard in band may be
        callbridge's own played to the caller and echoed back (own_audio.py): those are not the caller's."""
        self._press = press
        self._now = now
        self._echo_possible = echo_possible
        self._detector = None if rate_hz is None else DtmfDetector(rate_hz)
        self._batch_samples = 0 if rate_hz is None else rate_hz * DETECT_EVERY_MS // 1000
        self._buffered: list[npt.NDArray[np.int16]] = []
        self._buffered_samples = 0
        self._unpaired: collections.deque[tuple[float, str, bool]] = collections.deque()
        """Recent keys not paired yet: (when, digit, heard in band)."""
        self.tones_detected = 0
        """Keys the detector recognised (duplicates of events included)."""
        self.duplicates = 0
        """Keys noticed both ways, passed on once."""
        self.echoes = 0
        """Keys heard in band while callbridge's own keys played (or just after): not passed on."""
        self.passed_on = {"event": 0, "in_band": 0}
        """Keys passed on, by where each was noticed first."""

    @property
    def in_band(self) -> bool:
        return self._detector is not None

    def on_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        """A frame of the caller's audio at the stream's rate."""
        detector = self._detector
        if detector is None:
            return
        self._buffered.append(pcm)
        self._buffered_samples += pcm.size
        if self._buffered_samples < self._batch_samples:
            return
        samples = np.concatenate(self._buffered)
        self._buffered.clear()
        self._buffered_samples = 0
        for digit in detector.feed(samples):
            self.tones_detected += 1
            if self._echo_possible():
                self.echoes += 1
                continue
            self._arrived(digit, in_band=True)

    def on_event(self, digit: str) -> None:
        """The provider reported a key."""
        self._arrived(digit, in_band=False)

    def _arrived(self, digit: str, *, in_band: bool) -> None:
        now = self._now()
        unpaired = self._unpaired
        while unpaired and now - unpaired[0][0] > DUPLICATE_WINDOW_S:
            unpaired.popleft()
        for index, (_, other, other_in_band) in enumerate(unpaired):
            if other == digit and other_in_band != in_band:
                del unpaired[index]
                self.duplicates += 1
                return
        unpaired.append((now, digit, in_band))
        self.passed_on["in_band" if in_band else "event"] += 1
        self._press(digit)
