"""Follow callbridge's call events from NATS, as an external system would: a small, dependency-light
subscriber (nats-py only) for the documented stream (docs/asyncapi.json).

    python examples/follow_calls.py --nats-url nats://user:password@nats:4222    # live, every call
    python examples/follow_calls.py --replay --call <callId> --until-ended      # one call, replayed
    python examples/follow_calls.py --durable billing                           # resumes where it stopped

Each event prints as one line: ``<occurredAt> <callId> <event> <a few fields>``. With ``--durable NAME``
the subscription is a durable JetStream consumer: the server remembers what this subscriber has
acknowledged, so a restart goes on from there, and several copies with the same name share the events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

STREAM = "CALLBRIDGE_EVENTS"
INTERESTING = ("endReason", "digit", "text", "state", "status", "toolName", "heardMs", "detail")


def describe(subject: str, data: bytes) -> str:
    event_name = subject.split(".", 3)[3]  # callbridge.calls.<callId>.<event>
    try:
        event = json.loads(data)
    except ValueError:
        return f"? {subject} (not JSON: skipped)"
    fields = " ".join(f"{key}={event[key]!r}" for key in INTERESTING if event.get(key) is not None)
    return f"{event.get('occurredAt')} {event.get('callId')} {event_name} {fields}".rstrip()


async def follow(args: argparse.Namespace) -> int:
    client = await nats.connect(args.nats_url, connect_timeout=5)
    js = client.jetstream()
    subject = f"callbridge.calls.{args.call}.>" if args.call else "callbridge.calls.>"
    config = ConsumerConfig(
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL if args.replay else DeliverPolicy.NEW,
    )
    subscription = await js.pull_subscribe(subject, durable=args.durable, stream=STREAM, config=config)
    try:
        while True:
            try:
                messages = await subscription.fetch(100, timeout=args.idle_timeout)
            except nats.errors.TimeoutError:
                if args.until_ended:
                    print("no event for a while: stopping", file=sys.stderr)
                    return 1
                continue
            for message in messages:
                print(describe(message.subject, message.data), flush=True)
                await message.ack()
                if args.until_ended and message.subject.endswith(".ended"):
                    return 0
    finally:
        await client.drain()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--call", help="only this call's events")
    parser.add_argument("--replay", action="store_true", help="start from the oldest event kept (7 days)")
    parser.add_argument("--durable", help="a durable consumer name: resume where the last run stopped")
    parser.add_argument("--until-ended", action="store_true", help="stop after the first ended event")
    parser.add_argument(
        "--idle-timeout", type=float, default=5.0, help="seconds to wait for events per fetch"
    )
    return asyncio.run(follow(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
