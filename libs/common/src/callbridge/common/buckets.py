"""JetStream key-value bucket names: the only store callbridge has."""

from datetime import timedelta

CALLS = "callbridge_calls"
AGENTS = "callbridge_agents"
TELEPHONY_CONFIGS = "callbridge_telephony_configs"
PROVIDER_CALLS = "callbridge_provider_calls"
"""``<provider>.<provider call id>`` → call id: callbacks that carry only the provider's id find the call."""
CALL_INDEX = "callbridge_call_index"
"""Pages of the call listings (see call_index.py and call_listing.py); expire with the call retention."""
CALL_THROTTLES = "callbridge_call_throttles"
"""``id.<throttleId>`` → CallThrottle, and ``name.<hex name>`` → the id holding the name."""
THROTTLE_USAGE = "callbridge_throttle_usage"
"""Per throttle id: the start times its rules look back on (throttles.py)."""
CAPACITY = "callbridge_capacity"
"""Per provider account: the calls holding a slot and the last second's starts (capacity.py)."""
ACCOUNT_WEBHOOKS = "callbridge_webhooks"
"""Account webhooks (``/api/webhooks``) by id, secrets sealed."""
WEBHOOK_PROGRESS = "callbridge_webhook_progress"
"""Per webhook and call: the events delivered or given up, and the attempts (account_webhooks/delivery.py)."""
WEBHOOK_PROGRESS_TTL = timedelta(days=3)
"""Longer than the last retry of a call's last event (10 attempts from 30 s doubling: about 4.3 hours)."""
BATCHES = "callbridge_batches"
"""Scheduled batches: the batch records, their calls in chunks, progress and leases (batch_store.py)."""
BATCH_ATTEMPTS = "callbridge_batch_attempts"
"""Call id -> the batch, scheduled call and attempt it was placed for; expire with BATCH_ATTEMPTS_TTL."""
BATCH_ATTEMPTS_TTL = timedelta(days=30)
"""Longer than any call and any outcome's redelivery."""
WEBHOOK_REPLAYS = "callbridge_webhook_replays"
"""Signatures of verified provider requests; a second request with the same signature is a replay."""
CALL_CONTROL = "callbridge_call_control"
"""Call-control command id -> its claim (call_control.py): a command delivered twice is carried out once."""

WEBHOOK_REPLAYS_TTL = timedelta(hours=24)
"""Longer than twice Telnyx's ±300 s window (a request first seen at ts−300 can be replayed until
ts+300), and long because Plivo's V3 signature has no timestamp: its replays are caught only while the
key lives (reference §5.2, §5.3)."""

PROVIDER_CALL_STREAM_WINDOW = WEBHOOK_REPLAYS_TTL
"""How long after its first webhook a provider call may start another stream (a flow running the stream
verb again). Requests within it are told from replays by their signatures, which are kept exactly this
long; after it, every request for that provider call is a replay (no Twilio or Plivo call lasts a day)."""

PROVIDER_CALLS_TTL: timedelta | None = None
"""None: the index is kept as long as the calls are (callbridge deletes neither). It is what recognises a
replay once the signature's record has expired, so it must outlive any replay worth refusing. Each entry
is one small record per provider call."""

ALL = (
    CALLS,
    CALL_INDEX,
    AGENTS,
    TELEPHONY_CONFIGS,
    PROVIDER_CALLS,
    WEBHOOK_REPLAYS,
    CALL_THROTTLES,
    THROTTLE_USAGE,
    CAPACITY,
    ACCOUNT_WEBHOOKS,
    WEBHOOK_PROGRESS,
    BATCHES,
    BATCH_ATTEMPTS,
    CALL_CONTROL,
)
