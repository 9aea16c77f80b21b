"""The scheduler against real NATS (stores, events stream, outcome consumer) with a scripted placer: windows,
retries by outcome, expiry, pause and resume, callee-local hours, priority, reserved inbound lines,
auto-pause, duplicate ended events, the signed webhook, and takeover of a stopped replica's chunks."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from nats.aio.client import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.common.scheduler_harness import T0, Callee, dialed, harness, numbers, publish_ended

from callbridge.common.capacity import AccountLimits
from callbridge.common.models.batch import ScheduledCallStatus
from callbridge.common.throttles import CallThrottle, ThrottleRule
from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_every_call_is_placed_once_within_the_cap_and_the_batch_ends(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    async with harness(nats_url, nats_client) as h:
        h.limits["twilio"] = AccountLimits(max_concurrent_calls=3)
        to = numbers(40)
        h.placer.callees = {number: Callee(hold=True) for number in to}
        batch = await h.batch(calls=[dialed(number) for number in to])
        scheduler = h.scheduler()

        async def end_some() -> bool:
            for call_id in list(h.placer.held)[:2]:
                await h.placer.end(call_id)
            return sum(h.placer.dials.values()) == 40 and not h.placer.held

        await h.settle(scheduler, end_some)
        await h.settle(scheduler, lambda: _ended(h, batch))
        assert h.placer.max_live <= 3  # the account's cap, never exceeded
        assert set(h.placer.dials.values()) == {1}
        assert await h.statuses(batch) == ["SUCCESS"] * 40
        stored = (await h.stores.batches.get(batch.batch_id)).value
        assert stored.ended_at is not None


async def _ended(h: Any, batch: Any) -> bool:
    return (await h.stores.batches.get(batch.batch_id)).value.ended_at is not None


async def test_calls_are_retried_by_outcome_with_backoff_and_every_attempt_is_recorded(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    busy_then_answers, never_answers, fails = numbers(3)
    callees = {
        busy_then_answers: Callee([("busy", False), ("hangup", True)]),
        never_answers: Callee([("no_answer", False)]),
        fails: Callee([("dial_failed", False)]),
    }
    async with harness(nats_url, nats_client, callees) as h:
        batch = await h.batch(
            calls=[dialed(busy_then_answers), dialed(never_answers), dialed(fails)],
            retry={"maxAttempts": 2, "retryOn": ["busy", "no-answer"], "backoff": "60s"},
        )
        scheduler = h.scheduler()
        await h.settle(scheduler, lambda: sum(h.placer.dials.values()) == 3)
        await h.settle(scheduler, lambda: _statuses_are(h, batch, ["FUTURE", "FUTURE", "ERROR"]))
        await scheduler.tick()
        assert sum(h.placer.dials.values()) == 3  # the backoff holds the retries back
        h.clock.advance(timedelta(seconds=61))
        await h.settle(scheduler, lambda: _statuses_are(h, batch, ["SUCCESS", "ERROR", "ERROR"]))
        calls = await h.calls(batch)
        assert [len(call.attempts) for call in calls] == [2, 2, 1]
        assert [a.outcome for a in calls[0].attempts] == ["busy", "success"]
        assert [a.outcome for a in calls[1].attempts] == ["no-answer", "no-answer"]
        assert calls[1].error is not None
        assert "attempt 2 of 2: no-answer" in calls[1].error
        assert calls[2].error is not None
        assert "failed" in calls[2].error
        assert calls[0].attempts[1].started - calls[0].attempts[0].started >= timedelta(seconds=60)


async def _statuses_are(h: Any, batch: Any, expected: list[str]) -> bool:
    return bool(await h.statuses(batch) == expected)


async def test_a_paused_batch_places_nothing_until_resumed_and_what_the_window_missed_expires(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    async with harness(nats_url, nats_client) as h:
        to = numbers(4)
        batch = await h.batch(
            calls=[dialed(number) for number in to],
            paused=True,
            windowEnd=_iso(T0 + timedelta(hours=1)),
        )
        scheduler = h.scheduler()
        await scheduler.tick()
        await scheduler.drain()
        assert not h.placer.dials

        def resume(current: Any) -> Any:
            return current.model_copy(update={"paused": False})

        await h.stores.batches.change(batch.batch_id, resume)
        h.limits["twilio"] = AccountLimits(max_concurrent_calls=2)
        h.placer.callees = {number: Callee(hold=True) for number in to}
        await h.settle(scheduler, lambda: sum(h.placer.dials.values()) == 2)
        h.clock.advance(timedelta(hours=1))  # the window closes with two calls never placed
        for call_id in list(h.placer.held):
            await h.placer.end(call_id)
        await h.settle(scheduler, lambda: _ended(h, batch))
        statuses = await h.statuses(batch)
        assert sorted(statuses) == ["EXPIRED", "EXPIRED", "SUCCESS", "SUCCESS"]
        expired = [call for call in await h.calls(batch) if call.status is ScheduledCallStatus.EXPIRED]
        assert all(call.error and "window closed" in call.error for call in expired)
        assert sum(h.placer.dials.values()) == 2


async def test_no_call_is_placed_outside_the_callees_local_hours(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    tokyo, new_york = numbers(2)
    async with harness(nats_url, nats_client) as h:
        # 14:00 UTC on a Monday: 09:00 in New York, 23:00 in Tokyo.
        batch = await h.batch(
            calls=[dialed(tokyo, timeZone="Asia/Tokyo"), dialed(new_york, timeZone="America/New_York")],
            callingHours={"days": ["MON", "TUE"], "start": "09:00", "end": "17:00"},
        )
        scheduler = h.scheduler()
        await h.settle(scheduler, lambda: h.placer.dials[new_york] == 1)
        await scheduler.tick()
        assert h.placer.dials[tokyo] == 0
        h.clock.advance(timedelta(hours=9, minutes=59))  # 08:59 Tuesday in Tokyo
        await scheduler.tick()
        await scheduler.drain()
        assert h.placer.dials[tokyo] == 0
        h.clock.advance(timedelta(minutes=1))  # 09:00 Tuesday in Tokyo
        await h.settle(scheduler, lambda: _ended(h, batch))
        assert h.placer.dials[tokyo] == 1


async def test_a_batch_of_higher_priority_takes_the_accounts_lines_first(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    async with harness(nats_url, nats_client) as h:
        h.limits["twilio"] = AccountLimits(max_concurrent_calls=2)
        low, high = numbers(4, start=1000), numbers(4, start=2000)
        h.placer.callees = {number: Callee(hold=True) for number in low + high}
        await h.batch(calls=[dialed(number) for number in low], priority=0)
        await h.batch(calls=[dialed(number) for number in high], priority=10)
        scheduler = h.scheduler()

        async def end_one() -> bool:
            for call_id in list(h.placer.held)[:1]:
                await h.placer.end(call_id)
            return len(h.placer.order) == 8

        await h.settle(scheduler, end_one)
        assert h.placer.order[:4] == high
        assert h.placer.max_live <= 2


async def test_lines_kept_for_inbound_calls_are_never_used_by_the_batch(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    async with harness(nats_url, nats_client) as h:
        h.limits["twilio"] = AccountLimits(max_concurrent_calls=4, reserved_inbound_calls=2)
        inbound = [uuid4(), uuid4(), uuid4()]
        await h.stores.capacity.hold_inbound("twilio", inbound[0])
        to = numbers(6)
        h.placer.callees = {number: Callee(hold=True) for number in to}
        await h.batch(calls=[dialed(number) for number in to])
        scheduler = h.scheduler()
        await h.settle(scheduler, lambda: len(h.placer.live) == 2)
        await scheduler.tick()
        assert len(h.placer.live) == 2  # 4 lines, 2 kept for inbound calls
        for call_id in inbound[1:]:  # inbound calls arrive: 3 inbound + 2 outbound, 1 line free
            await h.stores.capacity.hold_inbound("twilio", call_id)
        for call_id in list(h.placer.held):
            await h.placer.end(call_id)
        await h.settle(scheduler, lambda: len(h.placer.live) == 1)
        await scheduler.tick()
        await scheduler.drain()
        assert len(h.placer.live) == 1
        ledger = await h.stores.capacity.usage("twilio")
        assert len(ledger.inbound) + len(ledger.outbound) <= 4


async def test_a_batch_whose_calls_keep_failing_pauses_itself_and_says_why(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    to = numbers(10)
    callees = {number: Callee([("busy", False)]) for number in to}
    async with harness(nats_url, nats_client, callees) as h:
        h.limits["twilio"] = AccountLimits(max_concurrent_calls=1)
        batch = await h.batch(
            calls=[dialed(number) for number in to], autoPause={"failureRate": 0.75, "recentAttempts": 4}
        )
        scheduler = h.scheduler()
        await h.settle(scheduler, lambda: _paused(h, batch))
        stored = (await h.stores.batches.get(batch.batch_id)).value
        assert stored.paused_reason is not None
        assert "4 of the last 4 attempts failed" in stored.paused_reason
        dialed_before = sum(h.placer.dials.values())
        await scheduler.tick()
        await scheduler.drain()
        assert sum(h.placer.dials.values()) == dialed_before <= 5


async def _paused(h: Any, batch: Any) -> bool:
    return bool((await h.stores.batches.get(batch.batch_id)).value.paused)


async def test_an_ended_event_delivered_twice_counts_once(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    number = numbers(1)[0]
    async with harness(nats_url, nats_client, {number: Callee(hold=True)}) as h:
        batch = await h.batch(calls=[dialed(number)], retry={"maxAttempts": 3, "backoff": "0s"})
        scheduler = h.scheduler()
        await h.settle(scheduler, lambda: len(h.placer.held) == 1)
        call_id = next(iter(h.placer.held))
        await h.placer.end(call_id, "busy", joined=False)
        await publish_ended(h.broker, call_id, "busy", joined=False)  # the same end, published again
        await publish_ended(h.broker, call_id, "busy", joined=False)
        h.placer.callees[number] = Callee([("hangup", True)])
        await h.settle(scheduler, lambda: _ended(h, batch))
        calls = await h.calls(batch)
        assert [a.outcome for a in calls[0].attempts] == ["busy", "success"]
        progress = await h.stores.batches.progress(batch.batch_id)
        assert progress.recent_failures == [True, False]


async def test_calls_without_an_outgoing_medium_are_posted_to_the_webhook_signed_with_retries(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    secret = "batch-webhook-secret-0123456789"
    received: list[dict[str, Any]] = []
    answers = iter([500, 204, 204])

    async def hook(request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers["X-Ultravox-Webhook-Timestamp"]
        expected = hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers["X-Ultravox-Webhook-Signature"]):
            return Response(status_code=401)
        received.append(await request.json())
        return Response(status_code=next(answers))

    port = free_port()
    async with (
        serve_asgi(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), "127.0.0.1", port),
        harness(nats_url, nats_client) as h,
    ):
        batch = await h.batch(
            calls=[{"medium": {"twilio": {}}, "metadata": {"n": "1"}}, {"metadata": {"n": "2"}}],
            webhookUrl=f"http://127.0.0.1:{port}/hook",
            webhookSecret=secret,
        )
        scheduler = h.scheduler()
        await h.settle(scheduler, lambda: _ended(h, batch))
        assert await h.statuses(batch) == ["SUCCESS", "SUCCESS"]
        assert len(received) == 3  # one refused with 500 and delivered again
        assert {payload["event"] for payload in received} == {"call.started"}
        assert all(payload["call"]["joinUrl"].startswith("wss://") for payload in received)
        assert not h.placer.dials


async def test_a_stopped_replicas_chunks_are_taken_over_when_its_leases_expire_without_a_second_dial(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    async with harness(nats_url, nats_client) as h:
        to = numbers(300)  # two chunks
        h.placer.callees = {number: Callee(hold=True) for number in to}
        h.limits["twilio"] = AccountLimits(max_concurrent_calls=20)
        batch = await h.batch(calls=[dialed(number) for number in to])
        first = h.scheduler("replica-1", lease_ttl_s=5)
        await h.settle(first, lambda: len(h.placer.live) == 20)
        # replica-1 stops here (it never ticks again); replica-2 waits for its leases to expire.
        second = h.scheduler("replica-2", lease_ttl_s=5)
        await second.tick()
        await second.drain()
        assert len(h.placer.live) == 20  # the leases are held: nothing taken
        h.clock.advance(timedelta(seconds=6))

        async def end_all() -> bool:
            for call_id in list(h.placer.held):
                await h.placer.end(call_id)
            return bool(await _ended(h, batch))

        await h.settle(second, end_all, timeout_s=30)
        assert set(h.placer.dials.values()) == {1}
        assert len(h.placer.dials) == 300
        assert await h.statuses(batch) == ["SUCCESS"] * 300
        # The 20 attempts replica-1 stored were placed again by replica-2: same call ids, no new dial.
        assert sum(1 for count in h.placer.placements.values() if count > 1) <= 20
        assert asyncio.current_task() is not None


async def test_a_batchs_throttle_bounds_how_many_calls_start(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    async with harness(nats_url, nats_client) as h:
        throttle = CallThrottle(
            throttle_id=uuid4(),
            name="two-a-minute",
            created=T0,
            rules=[ThrottleRule(max_calls=2, window_seconds=60)],
        )
        assert await h.stores.throttles.add(throttle)
        batch = await h.batch(calls=[dialed(number) for number in numbers(5)], throttle="two-a-minute")
        scheduler = h.scheduler()
        await h.settle(scheduler, lambda: sum(h.placer.dials.values()) == 2)
        for _ in range(3):
            await scheduler.tick()
            await scheduler.drain()
        assert sum(h.placer.dials.values()) == 2
        assert sorted(await h.statuses(batch)) == ["FUTURE", "FUTURE", "FUTURE", "SUCCESS", "SUCCESS"]


async def test_a_deleted_batch_places_no_further_call(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    async with harness(nats_url, nats_client) as h:
        h.limits["twilio"] = AccountLimits(max_concurrent_calls=1)
        to = numbers(3)
        h.placer.callees = {number: Callee(hold=True) for number in to}
        batch = await h.batch(calls=[dialed(number) for number in to])
        scheduler = h.scheduler()
        await h.settle(scheduler, lambda: len(h.placer.held) == 1)
        await h.stores.batches.delete((await h.stores.batches.get(batch.batch_id)).value)
        for call_id in list(h.placer.held):
            await h.placer.end(call_id)  # its line frees: nothing may take it
        for _ in range(3):
            await scheduler.tick()
            await scheduler.drain()
        assert sum(h.placer.dials.values()) == 1


async def test_a_webhook_refusing_a_call_for_good_makes_it_an_error(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    tries: list[int] = []

    async def hook(request: Request) -> Response:
        tries.append(1)
        return Response(status_code=410)  # gone: not worth trying again

    port = free_port()
    async with (
        serve_asgi(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), "127.0.0.1", port),
        harness(nats_url, nats_client) as h,
    ):
        batch = await h.batch(calls=[{}], webhookUrl=f"http://127.0.0.1:{port}/hook")
        scheduler = h.scheduler()
        await h.settle(scheduler, lambda: _ended(h, batch))
        (call,) = await h.calls(batch)
        assert call.status is ScheduledCallStatus.ERROR
        assert call.error is not None
        assert "answered 410" in call.error
        assert len(tries) == 1


async def test_the_scheduler_stops_when_cancelled_as_it_is_woken(nats_url: str, nats_client: Client) -> None:
    """Python 3.11's asyncio.wait_for returns the result, swallowing the cancellation, when the awaited thing
    completes in the same loop turn as the cancel; the scheduler's loop then ticked on for ever and the
    dialer's shutdown waited for it without end (seen in CI). Woken and cancelled together, it stops."""
    async with harness(nats_url, nats_client) as h:
        scheduler = h.scheduler(tick_s=3600.0)
        task = asyncio.create_task(scheduler.run())
        async with asyncio.timeout(10.0):
            # The only sign that run() is inside its wait: someone waits on its wake event (no event says so).
            while not scheduler._wake._waiters:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        scheduler.wake()  # completes the wait it is in ...
        task.cancel()  # ... in the same turn as the cancellation
        done, _ = await asyncio.wait({task}, timeout=5.0)
        assert task in done, "the scheduler ticked on after its cancellation"
        assert task.cancelled()


async def test_the_scheduler_stops_when_a_tick_swallows_its_cancellation(
    nats_url: str, nats_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-py's requests wait with asyncio.wait_for, which on 3.11 can swallow a cancellation: a tick
    cancelled in a KV read went on as if nothing happened, and the scheduler with it until the connection
    closed under it (the dialer's stop waited its 5 s bound for it, in the suite)."""
    async with harness(nats_url, nats_client) as h:
        scheduler = h.scheduler(tick_s=0.01)
        in_tick = asyncio.Event()

        async def swallowing_tick() -> None:
            in_tick.set()
            with contextlib.suppress(asyncio.CancelledError):  # as a lost cancellation does
                await asyncio.Event().wait()
            await asyncio.sleep(30.0)  # ... and the tick goes on to its next request, as if not cancelled

        monkeypatch.setattr(scheduler, "tick", swallowing_tick)
        task = asyncio.create_task(scheduler.run())
        await in_tick.wait()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5.0)
        assert task in done, "the scheduler ticked on after its cancellation"
        assert task.cancelled()
