"""The AsyncAPI document of callbridge's call events, generated from the event models with FastStream.

Every class in ``events.EVENT_TYPES`` becomes a channel ``callbridge.calls.{callId}.<event>`` of the
``CALLBRIDGE_EVENTS`` JetStream stream with its JSON schema (pydantic's), so the document cannot drift from
the code: a new event type is in it as soon as it is in ``EVENT_TYPES``. ``docs/asyncapi.json`` is this
document (a test keeps them equal; ``python -m callbridge.common.asyncapi > docs/asyncapi.json`` writes it),
and webhooks serves it at ``GET /docs/asyncapi.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from callbridge.common import subjects
from callbridge.common.events import EVENT_TYPES
from callbridge.common.scheduler.progress import BatchProgressed

TITLE = "callbridge call events"
VERSION = "0.1.0"
DESCRIPTION = (
    "Every call event callbridge publishes, on the JetStream stream `CALLBRIDGE_EVENTS` (kept 7 days), "
    "subject `callbridge.calls.<callId>.<event>`: subscribe to `callbridge.calls.>` for every call, "
    "`callbridge.calls.<callId>.>` for one, `callbridge.calls.*.ended` for one kind; scheduled batches' "
    "progress is on `callbridge.batches.<batchId>.progress`. Each message is JSON "
    "with `eventId` (also its `Nats-Msg-Id`, so a republished event is stored once), `occurredAt` (UTC) and "
    "`callId`; fields are camelCase. Events carry no secret. Unknown fields may be added in later versions: "
    "ignore them."
)


def events_specification() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as a JSON-ready dict."""
    broker = NatsBroker("nats://nats:4222")
    for event_type in EVENT_TYPES:
        doc = (event_type.__doc__ or "").strip()
        broker.publisher(
            subjects.call_event("{callId}", event_type.EVENT),
            schema=event_type,
            title=event_type.EVENT,
            description=" ".join(doc.split()) or f"The {event_type.EVENT} event of a call.",
        )
    broker.publisher(
        subjects.batch_event("{batchId}", "progress"),
        schema=BatchProgressed,
        title="batch.progress",
        description="A scheduled batch's counts changed (at most once a second per batch from each "
        "dialer, and at once when it pauses, resumes or ends), on callbridge.batches.<batchId>.progress in "
        "the same stream.",
    )
    specification = AsyncAPI(
        broker, title=TITLE, version=VERSION, description=DESCRIPTION, schema_version="3.0.0"
    )
    document: dict[str, Any] = specification.to_specification().to_jsonable()
    document["servers"] = {
        "nats": {
            "host": "nats:4222",
            "protocol": "nats",
            "description": "Your callbridge NATS (JetStream); the stream is CALLBRIDGE_EVENTS.",
        }
    }
    for channel in document.get("channels", {}).values():
        channel["servers"] = [{"$ref": "#/servers/nats"}]
    return document


def render() -> str:
    return json.dumps(events_specification(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
