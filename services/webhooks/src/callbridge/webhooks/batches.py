"""Scheduled batches for the routes: creating one (checking its throttle and window), reading it with its
progress, and paging through its calls."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from callbridge.common.batch_store import BatchStore
from callbridge.common.batch_window import check_window, needed_seconds
from callbridge.common.bus import Stores
from callbridge.common.call_factory import InvalidCallError
from callbridge.common.capacity import AccountLimits
from callbridge.common.durations import format_duration
from callbridge.common.ids import new_call_id
from callbridge.common.models.batch import (
    ScheduledBatch,
    ScheduledBatchCreate,
    ScheduledCall,
    ScheduledCallStatus,
    StoredBatch,
    stored_calls,
)
from callbridge.common.models.medium import Provider
from callbridge.common.models.sealing import Encrypt, secret_prefix
from callbridge.common.store import CorruptRecordError
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.common.throttles import ThrottleNotFoundError, ThrottleRule
from callbridge.telephony import TelephonyConfigs
from callbridge.telephony.accounts import ProviderAccounts
from callbridge.webhooks.errors import (
    InvalidRequestError,
    NotFoundError,
    UnreadableRecordError,
    WebhooksError,
)


class WindowTooShortError(WebhooksError):
    """The batch's window cannot hold its calls at the capacity available (400, as Ultravox answers)."""

    status_code = 400


async def create_batch(
    stores: Stores,
    configs: TelephonyConfigs,
    agent_id: UUID,
    body: ScheduledBatchCreate,
    encrypt: Encrypt,
    now: datetime,
) -> StoredBatch:
    rules: list[ThrottleRule] = []
    if body.throttle is not None:
        try:
            rules = (await stores.throttles.resolve(body.throttle)).rules
        except ThrottleNotFoundError as exc:
            raise InvalidRequestError(str(exc)) from None
    await _check_accounts(configs, body)
    if body.window_end is not None:
        await _check_window(configs, body, rules, now)
    batch_id = new_call_id()  # a UUIDv7: batches list newest first by id
    secret = None
    if body.webhook_url is not None:
        secret = body.webhook_secret or secrets.token_urlsafe(32)
    batch = StoredBatch(
        batch_id=batch_id,
        agent_id=agent_id,
        created=now,
        window_start=body.window_start,
        window_end=body.window_end,
        throttle=body.throttle,
        webhook_url=body.webhook_url,
        webhook_secret=None if secret is None else secret_prefix(secret),
        sealed_webhook_secret=None if secret is None else encrypt(secret),
        paused=body.paused,
        priority=body.priority,
        retry=body.retry,
        calling_hours=body.calling_hours,
        time_zone=body.time_zone,
        auto_pause=body.auto_pause,
        estimated_call_duration=body.estimated_call_duration,
    )
    return await stores.batches.create(batch, stored_calls(batch_id, body.calls))


async def _check_window(
    configs: TelephonyConfigs, body: ScheduledBatchCreate, rules: list[ThrottleRule], now: datetime
) -> None:
    assert body.window_end is not None
    start = max(now, body.window_start) if body.window_start is not None else now
    dialed = Counter(call.medium.provider.value for call in body.calls if call.dials and call.medium)
    limits = {account: await _limits(configs, account) for account in dialed}
    needed = needed_seconds(dialed, limits, len(body.calls), rules, body.estimated_call_duration)
    hours = None if body.calling_hours is None else body.calling_hours.hours()
    shortfall = check_window(needed, start, body.window_end, zone=ZoneInfo(body.time_zone), hours=hours)
    if shortfall is None:
        return
    if shortfall.minimum_end is None:
        raise WindowTooShortError(
            f"the window cannot hold {len(body.calls)} calls: at the capacity available (the accounts' "
            "maxConcurrentCalls less reservedInboundCalls, maxCallsPerSecond, the throttle) they would not "
            "be placed within 400 days"
        )
    raise WindowTooShortError(
        f"the window is too short for {len(body.calls)} calls at the capacity available: they need about "
        f"{format_duration(_seconds(shortfall.needed_s))} of calling time, the window gives "
        f"{format_duration(_seconds(shortfall.available_s))}; the estimated minimum window ends at "
        f"{shortfall.minimum_end.astimezone(UTC).isoformat().replace('+00:00', 'Z')} (windowEnd)"
    )


async def _check_accounts(configs: TelephonyConfigs, body: ScheduledBatchCreate) -> None:
    """Every dialed call's provider has credentials imported and its additionalParams can be sent (as for
    a single call); 422 naming the first call that cannot be placed. Checked once per provider, and per
    call only where additionalParams are given."""
    accounts = ProviderAccounts(configs)
    checked: set[Provider] = set()
    for index, call in enumerate(body.calls):
        medium = call.medium
        outgoing = medium.outgoing if medium is not None else None
        if medium is None or outgoing is None:
            continue
        if medium.provider in checked and not outgoing.additional_params:
            continue
        try:
            await accounts.resolve(medium.provider, outgoing)
        except InvalidCallError as exc:
            raise InvalidRequestError(f"calls[{index}]: {exc}") from None
        checked.add(medium.provider)


async def _limits(configs: TelephonyConfigs, account: str) -> AccountLimits:
    """The account's limits; none when its credentials are not imported (its calls then fail to dial)."""
    config = await configs.find(Provider(account))
    return AccountLimits() if config is None else config.limits


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=round(value))


async def load_batch(batches: BatchStore, agent_id: UUID, batch_id: UUID) -> StoredBatch:
    try:
        batch = (await batches.get(batch_id)).value
    except StoreNotFoundError:
        raise NotFoundError(f"scheduled batch {batch_id} not found") from None
    except CorruptRecordError as exc:
        raise UnreadableRecordError(
            f"the stored scheduled batch {batch_id} cannot be read (written by an older or broken version)"
        ) from exc
    if batch.agent_id != agent_id:
        raise NotFoundError(f"scheduled batch {batch_id} not found")
    return batch


async def public_batch(batches: BatchStore, batch: StoredBatch) -> ScheduledBatch:
    """The batch with its counts, from its progress record."""
    counts = (await batches.progress(batch.batch_id)).counts()
    completed = sum(count for status, count in counts.items() if status.final)
    return batch.public().model_copy(update={"status_counts": counts, "completed_count": completed})


@dataclass(frozen=True, slots=True)
class CallsPage:
    calls: list[ScheduledCall]
    next_cursor: str | None
    total: int


def _encode_cursor(chunk: int, offset: int) -> str:
    return base64.urlsafe_b64encode(f"c:{chunk}:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequestError("invalid cursor") from None
    parts = text.split(":")
    if len(parts) != 3 or parts[0] != "c" or not parts[1].isdigit() or not parts[2].isdigit():
        raise InvalidRequestError("invalid cursor")
    return int(parts[1]), int(parts[2])


async def page_calls(
    batches: BatchStore,
    batch: StoredBatch,
    status: ScheduledCallStatus | None,
    cursor: str | None,
    page_size: int,
    *,
    with_calls_only: bool = False,
) -> CallsPage:
    """Scheduled calls in batch order from ``cursor``, those in ``status`` only (None: all); chunks holding
    none in that status are skipped by their progress counts, so a page reads only chunks it shows."""
    chunk_number, offset = _decode_cursor(cursor) if cursor else (0, 0)
    progress = await batches.progress(batch.batch_id)
    counts = progress.counts()
    total = batch.total_count if status is None else counts.get(status, 0)
    results: list[ScheduledCall] = []
    while chunk_number < batch.chunk_count and len(results) < page_size:
        known = progress.chunks.get(chunk_number)
        if status is not None and known is not None and not known.counts.get(status):
            chunk_number, offset = chunk_number + 1, 0
            continue
        try:
            chunk = (await batches.chunk(batch.batch_id, chunk_number)).value
        except StoreNotFoundError:  # deleted meanwhile
            break
        calls = chunk.calls
        while offset < len(calls) and len(results) < page_size:
            call = calls[offset]
            offset += 1
            if (status is None or call.status is status) and (not with_calls_only or call.attempts):
                results.append(call)
        if offset >= len(calls):
            chunk_number, offset = chunk_number + 1, 0
    next_cursor = _encode_cursor(chunk_number, offset) if chunk_number < batch.chunk_count else None
    return CallsPage(results, next_cursor, total)
