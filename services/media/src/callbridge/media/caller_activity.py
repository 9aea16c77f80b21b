"""The caller's activity on the line: speech, heard by the voice-activity detector (vad.py), and keys.

``inactivityMessages`` (inactivity.py) and the hang-ups the caller may cancel by speaking (``strict: false``
on ``hangUp`` and ``leaveVoicemail``, ``END_BEHAVIOR_HANG_UP_SOFT``) need to know when the caller does
something. What counts is what Ultravox counts as user activity: speech (a turn by ``vadSettings``, so a
click or a cough does not count) and a key pressed. Keys are noticed always (they are rare); the detector
runs only while something listens, since it costs CPU on every frame the caller is not silent (vad.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from callbridge.common.models.conversation import VadSettings
from callbridge.media.clock import Clock
from callbridge.media.vad import FRAME_MS, SpeechChange, SpeechDetector, VadTuning

Listener = Callable[[], None]

_FRAME_S: Final = FRAME_MS / 1000


class CallerActivity:
    """One call's caller, as activity: ``on_audio`` for each provider frame while ``listening``, ``on_dtmf``
    for each key."""

    def __init__(self, vad: VadSettings | None, input_rate_hz: int, clock: Clock) -> None:
        self._tuning = VadTuning.from_settings(vad)
        self._rate_hz = input_rate_hz
        self._clock = clock
        self._detector: SpeechDetector | None = None
        self._listeners: list[Listener] = []
        self.listening = False
        """Whether the session is to feed the caller's audio (something listens for speech)."""
        self.speaking = False
        """The caller is in a turn (started, and not yet silent for ``turnEndpointDelay``)."""
        self.last_active_at = clock.now()
        """When the caller was last heard or pressed a key (clock seconds; the start until then)."""

    def listen(self, on_activity: Listener) -> Callable[[], None]:
        """Call ``on_activity`` each time the caller starts speaking or presses a key; returns the function
        that stops it. The detector runs while at least one listener is registered."""
        self._listeners.append(on_activity)
        if self._detector is None:
            self._detector = SpeechDetector(self._tuning, self._rate_hz)
            self.listening = True

        def stop() -> None:
            if on_activity in self._listeners:
                self._listeners.remove(on_activity)
            if not self._listeners:
                self._detector = None
                self.listening = self.speaking = False

        return stop

    def on_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        """One provider frame of the caller's audio (int16 at the stream's rate)."""
        detector = self._detector
        if detector is None:
            return
        change = detector.feed(pcm)
        if change is SpeechChange.STARTED:
            self.speaking = True
            self._active(self._clock.now())
        elif change is SpeechChange.STOPPED:
            self.speaking = False
            # The turn ended with its last speech frame, ``turnEndpointDelay`` ago: silence counts from there.
            self.last_active_at = self._clock.now() - self._tuning.endpoint_frames * _FRAME_S

    def on_dtmf(self) -> None:
        self._active(self._clock.now())

    def _active(self, now: float) -> None:
        self.last_active_at = now
        for listener in list(self._listeners):
            listener()
