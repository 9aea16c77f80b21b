"""What an attempt's end means for its scheduled call: done, another attempt after a backoff, or failed.

An attempt's outcome comes from its call's ``ended`` event: a call that connected (was joined) succeeded,
whatever ended it; one that never connected ended busy, unanswered or failed. A call told to the batch's
webhook succeeded once the webhook took it.
"""

from __future__ import annotations

from datetime import datetime

from callbridge.common.models.batch import (
    Attempt,
    RetryOutcome,
    ScheduledCall,
    ScheduledCallStatus,
    StoredBatch,
)

SUCCESS = "success"
WEBHOOK_FAILED = "webhook-failed"

_NOT_CONNECTED = {
    "busy": RetryOutcome.BUSY.value,
    "no_answer": RetryOutcome.NO_ANSWER.value,
    "no-answer": RetryOutcome.NO_ANSWER.value,
}


def outcome_of_end(end_reason: str, joined: bool) -> str:
    """``success`` for a call that connected; else ``busy``, ``no-answer`` or ``failed`` (dial failed,
    canceled, nobody joined)."""
    if joined:
        return SUCCESS
    return _NOT_CONNECTED.get(end_reason, RetryOutcome.FAILED.value)


def is_failure(outcome: str) -> bool:
    return outcome != SUCCESS


def finish_attempt(
    call: ScheduledCall, batch: StoredBatch, attempt: int, outcome: str, detail: str | None, now: datetime
) -> ScheduledCall | None:
    """The call with attempt ``attempt`` ended by ``outcome``; None when that attempt is not the call's
    current one or has ended already (a duplicate or late event: counted once)."""
    current = call.current
    if current is None or current.number != attempt or current.ended is not None:
        return None
    ended = current.model_copy(update={"ended": now, "outcome": outcome, "detail": detail})
    attempts = [*call.attempts[:-1], ended]
    update: dict[str, object] = {"attempts": attempts, "next_attempt_at": None}
    policy = batch.retry_policy
    if outcome == SUCCESS:
        update.update(status=ScheduledCallStatus.SUCCESS, error=None)
    elif outcome in {o.value for o in policy.retry_on} and attempt < policy.max_attempts:
        update.update(
            status=ScheduledCallStatus.FUTURE, next_attempt_at=now + policy.delay_before(attempt + 1)
        )
    else:
        why = f"attempt {attempt} of {policy.max_attempts}: {outcome}" + (f" ({detail})" if detail else "")
        update.update(status=ScheduledCallStatus.ERROR, error=why)
    return call.model_copy(update=update)


def start_attempt(call: ScheduledCall, attempt: Attempt) -> ScheduledCall:
    return call.model_copy(
        update={
            "status": ScheduledCallStatus.PENDING,
            "attempts": [*call.attempts, attempt],
            "call_id": attempt.call_id,
            "next_attempt_at": None,
        }
    )
