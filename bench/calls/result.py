"""What one simulated call observed, and its echo latencies matched by sample offset.

Both directions of every stream the benchmark sets up carry the same format (Twilio μ-law 8 kHz, the
others L16 16 kHz), so the server's audio and the caller's frames share one sample count: the echo of
inbound sample ``s`` is outbound sample ``s`` (media's resampler returns exactly as many samples as it is
given, reference: services/media/src/callbridge/media/audio/resampler.py).
"""

from dataclasses import dataclass, field


@dataclass(slots=True)
class CallResult:
    """What one call observed; times are ``time.monotonic()`` seconds."""

    provider: str = "twilio"
    frame_samples: int = 160
    """Samples in one inbound 20 ms frame at the stream's rate (8 kHz: 160, 16 kHz: 320)."""
    frames_sent: int = 0
    sent_at_s: list[float] = field(default_factory=list)
    send_lateness_s: list[float] = field(default_factory=list)
    echo_at_s: list[float] = field(default_factory=list)
    echo_samples: list[int] = field(default_factory=list)
    """Samples of audio in each echoed message (μ-law: its bytes; L16: half of them)."""
    marks_received: int = 0
    marks_echoed: int = 0
    violations: int = 0
    first_violation: str | None = None
    error: str | None = None
    ended_by: str = ""
    close_code: int | None = None

    @property
    def echo_frames(self) -> float:
        return sum(self.echo_samples) / self.frame_samples

    def echo_latencies_s(self) -> list[float]:
        """Per inbound frame: arrival of the first echoed message holding its first sample, minus the
        frame's send time. Where the server echoes in 20 ms messages this is one value per message; where
        it echoes in longer chunks (Exotel) every frame of a chunk gets its own, the oldest waiting the
        longest for the chunk to fill."""
        latencies: list[float] = []
        sent_at, frame = self.sent_at_s, self.frame_samples
        offset = 0
        for arrived_at, samples in zip(self.echo_at_s, self.echo_samples, strict=True):
            first = -(-offset // frame)  # the first frame that starts inside this message
            end = min((offset + samples - 1) // frame + 1, len(sent_at))
            latencies.extend(arrived_at - sent_at[index] for index in range(first, end))
            offset += samples
            if end >= len(sent_at):
                break
        return latencies

    def newest_frame_latencies_s(self) -> list[float]:
        """Per echoed message: its arrival minus the send time of the newest frame it holds audio of.

        That frame completed the message's audio on our side, so this is the time the server added once
        it had all of it. Equal to ``echo_latencies_s`` for 20 ms messages."""
        latencies: list[float] = []
        sent_at, frame = self.sent_at_s, self.frame_samples
        offset = 0
        for arrived_at, samples in zip(self.echo_at_s, self.echo_samples, strict=True):
            newest = (offset + samples - 1) // frame
            if newest >= len(sent_at):
                break
            latencies.append(arrived_at - sent_at[newest])
            offset += samples
        return latencies
