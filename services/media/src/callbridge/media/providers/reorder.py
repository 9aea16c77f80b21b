"""Inbound audio frames put back in order by the provider's message counter (Telnyx, reference §2.2).

Telnyx says the order of its messages "is not guaranteed" and to reorder by ``sequence_number``. That
counter numbers every message of the stream, not only media: ``start`` is 1 and the ``dtmf``, ``mark`` and
``error`` messages share it (as Twilio's ``sequenceNumber`` does). callbridge makes Telnyx echo a mark after
every 20 ms frame, so the media numbers alone are never contiguous: every sequenced message takes its
number here, audio through ``push`` and anything else through ``skip``, and only a number nobody has
sent yet is a gap.

Window: frames behind a gap wait until it is filled or until more than ``window_frames`` of them wait;
then the gap is given up (counted) and the held frames go out in order. Three 20 ms frames = at most 60 ms
added, and only while a frame is actually late or lost; in order, nothing waits. A frame numbered below
what has already gone out is too late to place: dropped and counted, as is a duplicate.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

WINDOW_FRAMES: Final = 3  # 60 ms of 20 ms frames
# A frame this far behind is not late but a restarted counter (e.g. a provider-side stream restart):
# 200 numbers is 2 s of media plus mark echoes, far beyond any useful lateness.
RESTART_DISTANCE: Final = 200

Frame = npt.NDArray[np.int16]


class SequenceReorderer:
    """Releases frames in counter order; counts what it had to reorder, skip or drop."""

    def __init__(self, window_frames: int = WINDOW_FRAMES) -> None:
        self.window_frames = window_frames
        self._next: int | None = None  # the number that goes out next
        self._highest = -1
        self._held: dict[int, Frame | None] = {}  # None: a message without audio took the number
        self._held_frames = 0
        self.frames_reordered = 0
        """Frames that arrived after a later-numbered one and were put back in place."""
        self.frames_dropped_late = 0
        """Frames that arrived after their place had gone out, and duplicates."""
        self.gaps_skipped = 0
        """Missing numbers given up on when the window filled."""
        self.counter_restarts = 0

    @property
    def held_frames(self) -> int:
        return self._held_frames

    def push(self, seq: int, frame: Frame) -> list[Frame]:
        """One audio frame in; the frames that can now go out, in order (none while it waits)."""
        next_seq = self._next
        if next_seq is None or (seq == next_seq and not self._held):
            # In order with nothing waiting: the common case costs one comparison.
            self._next = seq + 1
            self._highest = seq
            return [frame]
        if seq < next_seq or seq in self._held:
            if next_seq - seq > RESTART_DISTANCE:
                return self._restart(seq, frame)
            self.frames_dropped_late += 1
            return []
        if seq < self._highest:
            self.frames_reordered += 1
        else:
            self._highest = seq
        self._held[seq] = frame
        self._held_frames += 1
        return self._release()

    def skip(self, seq: int) -> None:
        """A message without audio took this number; frames it unblocks go out with the next push."""
        next_seq = self._next
        if next_seq is None or (seq == next_seq and not self._held):
            self._next = seq + 1
            self._highest = max(self._highest, seq)
        elif seq > next_seq and seq not in self._held:
            self._held[seq] = None
            self._highest = max(self._highest, seq)
        elif seq == next_seq:
            self._held[seq] = None
        # Below next_seq: a late or repeated control message; its number has been passed already.

    def _release(self) -> list[Frame]:
        released: list[Frame] = []
        held = self._held
        while held:
            next_seq = self._next
            assert next_seq is not None  # set by the first message
            if next_seq not in held:
                if self._held_frames <= self.window_frames:
                    break
                self.gaps_skipped += 1
                self._next = min(held)
                continue
            frame = held.pop(next_seq)
            self._next = next_seq + 1
            if frame is not None:
                released.append(frame)
                self._held_frames -= 1
        return released

    def _restart(self, seq: int, frame: Frame) -> list[Frame]:
        released = [held for _, held in sorted(self._held.items()) if held is not None]
        self._held.clear()
        self._held_frames = 0
        self._next = seq + 1
        self._highest = seq
        self.counter_restarts += 1
        released.append(frame)
        return released
