"""The provider side of a bidirectional stream: a buffer that plays what the server sends, in real time.

Twilio's rules (/work/shared/reference/provider-protocols.md §1.3): outbound `media` of any size is buffered
and played in order; a `mark` is echoed when the audio sent before it has finished playing, or at once if
nothing is buffered; `clear` empties the buffer and returns every pending mark. Telnyx and Exotel follow the
same mark/clear rules and Plivo's `checkpoint` falls due the same way (§6.4); what is sent for a mark, and
whether cleared marks are answered at all, is the caller's business (the provider wire modules).

Time is counted in samples at the stream's outbound rate from the start of the stream, so 20 ms at 8 kHz is
160 samples and, for μ-law, 160 bytes (L16: 2 bytes per sample). The buffer does no work per sample: it
tracks where the buffered audio ends, keeps the marks in the order they fall due, and (when recording)
appends the payload bytes to a time-aligned track in the wire encoding that is decoded once at the end.

Playout is clocked, as a provider's RTP leg is: audio reaching an empty buffer starts at the next 20 ms tick
of the stream clock (the one the inbound frames are sent on), and audio reaching a non-empty buffer plays
right after what is there. So an agent that answers each frame as it arrives is heard with 0–20 ms of added
delay but without a gap whenever its messages jitter by less than that. Twilio does not document its
playout clock or jitter buffer; this is the simplest model that behaves like one [INFERRED].
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

__all__ = ["ULAW_SILENCE_BYTE", "PlayoutBuffer"]

ULAW_SILENCE_BYTE = 0xFF
"""μ-law code for linear 0 (G.711 μ-law inverts the bits, so silence idles at all ones)."""

MarkT = TypeVar("MarkT")


class PlayoutBuffer(Generic[MarkT]):
    """Plays encoded audio from the moment it arrives, queueing marks behind it.

    ``MarkT`` is whatever the caller wants back when a mark falls due (a name, a record object).
    ``silence`` is one sample of silence in the wire encoding, which also sets the bytes per sample: μ-law
    by default.
    """

    def __init__(
        self,
        *,
        record_heard: bool = True,
        tick_samples: int = 160,
        silence: bytes = bytes((ULAW_SILENCE_BYTE,)),
    ) -> None:
        if tick_samples <= 0:
            raise ValueError(f"tick_samples must be > 0, got {tick_samples}")
        if not silence:
            raise ValueError("silence must be one sample of the wire encoding, got no bytes")
        self._tick_samples = tick_samples
        self._silence = silence
        self._bytes_per_sample = len(silence)
        self._end_sample = 0
        self._start_sample = 0
        """Where the buffered audio started playing (it may start after "now": on the next tick)."""
        """Where the buffered audio finishes playing; at or before "now" when the buffer is empty."""
        self._pending: deque[tuple[int, MarkT]] = deque()
        """(due sample, mark), in due order: marks are queued behind audio whose end only moves forward."""
        self._heard: bytearray | None = bytearray() if record_heard else None
        """The wire bytes as the caller hears them, from sample 0; silence where nothing played."""
        self._ended_at: int | None = None
        self._played_samples = 0

    @property
    def played_samples(self) -> int:
        """Audio that played, or will play unless cut: all that was buffered, less what a clear or the end
        of the call cut off. Once the call has ended, what the caller heard of the server's audio."""
        return self._played_samples

    @property
    def pending_marks(self) -> int:
        return len(self._pending)

    def buffered_samples(self, now_sample: int) -> int:
        """Audio still waiting to play at ``now_sample``."""
        return max(0, self._end_sample - now_sample)

    def enqueue_audio(self, now_sample: int, audio: bytes) -> None:
        """Buffer ``audio``: it plays right after what is buffered, or from the next tick if nothing is.

        A trailing partial sample (an odd byte of L16) is not played.
        """
        samples = len(audio) // self._bytes_per_sample
        if self._ended_at is not None or not samples:
            return
        if self._end_sample > now_sample:
            start = self._end_sample
        else:
            start = -(-now_sample // self._tick_samples) * self._tick_samples  # ceil to the next tick
            self._start_sample = start
        if self._heard is not None:
            gap = start - len(self._heard) // self._bytes_per_sample
            if gap > 0:
                self._heard.extend(self._silence * gap)
            self._heard.extend(audio[: samples * self._bytes_per_sample])
        self._end_sample = start + samples
        self._played_samples += samples

    def enqueue_mark(self, now_sample: int, mark: MarkT) -> bool:
        """Queue ``mark`` behind the buffered audio; True when nothing is buffered and it is due at once."""
        if self._end_sample <= now_sample:
            return True
        self._pending.append((self._end_sample, mark))
        return False

    def pop_played_marks(self, now_sample: int) -> list[MarkT]:
        """Marks whose audio has finished playing by ``now_sample``, in the order they were sent."""
        played: list[MarkT] = []
        while self._pending and self._pending[0][0] <= now_sample:
            played.append(self._pending.popleft()[1])
        return played

    def clear(self, now_sample: int) -> list[MarkT]:
        """Drop the unplayed audio and return every pending mark (Twilio echoes them at once, §1.3)."""
        self._truncate(now_sample)
        cleared = [mark for _, mark in self._pending]
        self._pending.clear()
        return cleared

    def end(self, now_sample: int) -> list[MarkT]:
        """The call ended: nothing more plays. Returns the marks that will never be echoed."""
        self._truncate(now_sample)
        self._ended_at = now_sample
        unplayed = [mark for _, mark in self._pending]
        self._pending.clear()
        return unplayed

    def heard_bytes(self, length_samples: int) -> bytes | None:
        """The recorded track, cut or padded with silence to ``length_samples``; None when not recording."""
        if self._heard is None:
            return None
        heard = bytes(self._heard[: length_samples * self._bytes_per_sample])
        return heard + self._silence * (length_samples - len(heard) // self._bytes_per_sample)

    heard_ulaw = heard_bytes
    """The name from when the buffer only held μ-law (Twilio)."""

    def _truncate(self, now_sample: int) -> None:
        if self._end_sample > now_sample:
            self._played_samples -= self._end_sample - max(now_sample, self._start_sample)
            self._end_sample = now_sample
            cut = now_sample * self._bytes_per_sample
            if self._heard is not None and len(self._heard) > cut:
                del self._heard[cut:]
