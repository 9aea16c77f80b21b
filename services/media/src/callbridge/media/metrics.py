"""Prometheus metrics of the media service, served on ``/metrics`` of the media port.

Per-frame figures are counted per call and added when the call ends, to keep the frame path free of locks.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from callbridge.common.loop_lag import lag_gauge

ACTIVE_CALLS = Gauge(
    "callbridge_media_active_calls",
    "Calls whose media WebSocket this replica holds, by provider",
    ["provider"],
)
FRAMES_IN = Counter(
    "callbridge_media_frames_in_total",
    "Caller audio frames received from providers (added when a call ends)",
    ["provider"],
)
FRAMES_OUT = Counter(
    "callbridge_media_frames_out_total",
    "Agent audio frames sent to providers (added when a call ends)",
    ["provider"],
)
MARK_ROUND_TRIP = Histogram(
    "callbridge_media_mark_round_trip_seconds",
    "From sending an agent frame's mark to the provider's echo (the frame has played): the provider's buffer "
    "plus the network; a sample of each call's marks, observed when it ends",
    ["provider"],
    buckets=(0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0),
)
FIRST_AGENT_AUDIO = Histogram(
    "callbridge_media_first_agent_audio_seconds",
    "From the provider's start message to the first agent audio sent to the caller (first speaker delays "
    "included)",
    ["provider"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)
CALLS_ENDED = Counter("callbridge_media_calls_ended_total", "Calls ended on this replica", ["end_reason"])
FRAMES_REJECTED = Counter(
    "callbridge_media_frames_rejected_total", "Provider frames that could not be parsed"
)
FRAMES_DROPPED = Counter(
    "callbridge_media_frames_dropped_total", "Agent frames dropped (barge-in, queue limit, peer not reading)"
)
PROVIDER_ERRORS = Counter(
    "callbridge_media_provider_errors_total",
    "Errors providers reported on media streams (Telnyx error frames)",
)
REPORTS_HELD_BACK = Counter(
    "callbridge_media_reports_held_back_total",
    "Events and warning lines about bad input not emitted because of a call's rate limit",
    ["kind"],
)
AGENT_MESSAGES_REJECTED = Counter(
    "callbridge_media_agent_messages_rejected_total",
    "Agent data messages that were not valid and were skipped",
)
AGENT_MESSAGES_IGNORED = Counter(
    "callbridge_media_agent_messages_ignored_total", "Valid agent data messages of a type callbridge ignores"
)
AGENT_FRAMES_DROPPED = Counter(
    "callbridge_media_agent_frames_dropped_total",
    "Caller audio frames not sent to an agent that stopped reading",
)
BARGE_INS = Counter("callbridge_media_barge_ins_total", "playback_clear_buffer requests carried out")
JOINS_REFUSED = Counter("callbridge_media_joins_refused_total", "Join attempts refused", ["reason"])
EVENT_LOOP_LAG = lag_gauge("media")
EVENTS_DROPPED = Counter(
    "callbridge_media_events_dropped_total",
    "Call events dropped because the replica's event outbox was full (NATS away for long)",
)
EVENTS_GIVEN_UP = Counter(
    "callbridge_media_events_given_up_total", "Call events given up after every publish attempt failed"
)
MARKS_UNKNOWN = Counter(
    "callbridge_media_marks_unknown_total", "Mark echoes from providers that name no mark awaiting an echo"
)
FRAMES_PADDED = Counter(
    "callbridge_media_agent_frames_padded_total",
    "Part-filled agent frames padded with silence because the agent's audio stopped (see agent_audio.py)",
)
STREAM_INPUT = Counter(
    "callbridge_media_stream_input_total",
    "What a provider stream did to its inbound messages (Telnyx: frames reordered, dropped late, gaps "
    "skipped, counter restarts)",
    ["provider", "counter"],
)
AGENT_HANDLER_FAILURES = Counter(
    "callbridge_media_agent_handler_failures_total",
    "Agent messages whose handling failed (a callbridge bug: logged, the call goes on)",
)
FIRST_TURNS = Counter(
    "callbridge_media_first_turns_total",
    "Who took a call's first turn (firstSpeakerSettings): agent, caller_speech, caller_key, fallback, "
    "command (a say), or none (the call ended while callbridge still waited for the caller)",
    ["taken_by"],
)
AGENT_CLEARS_IGNORED = Counter(
    "callbridge_media_agent_clears_ignored_total",
    "playback_clear_buffer requests ignored during an uninterruptible first turn",
)
AGENT_HELD_AUDIO_DROPPED = Counter(
    "callbridge_media_agent_held_audio_dropped_bytes_total",
    "Agent audio held back before its turn and then dropped (the caller spoke first, or over 30 s held)",
)
DTMF_KEYS = Counter(
    "callbridge_media_dtmf_keys_total",
    "Caller keys by where they were first noticed: the provider's event, or its tones in the caller's audio "
    "(in_band); a key noticed both ways is counted once (added when a call ends)",
    ["source"],
)
DTMF_KEYS_BOTH_WAYS = Counter(
    "callbridge_media_dtmf_keys_both_ways_total",
    "Caller keys both reported by the provider and heard in band, passed on once (added when a call ends)",
)
