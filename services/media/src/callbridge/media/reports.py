"""What a call reports about its provider's input: bad input counted exactly and reported within a rate
limit, and the stream's notices about undocumented points.

Each rejected frame and each error the provider reports is counted; an event (``media.rejected``,
``provider.stream_error``) and a warning line go out for it only within the call's limit for that kind
(ratelimit.py), each saying how many it stands for. The totals go on ``ended`` and into the metrics.
A notice (e.g. Telnyx L16 found in the other byte order) is published once, as ``media.format_notice``.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from callbridge.common.events import MediaFormatNotice, MediaFramesRejected, ProviderStreamError
from callbridge.media import metrics
from callbridge.media.lifecycle import CallLifecycle
from callbridge.media.providers.base import ProtocolError, ProviderErrorReported
from callbridge.media.ratelimit import CallLog, RateLimiter, held_back_note


class ProviderInputReports:
    def __init__(
        self, call_id: UUID, lifecycle: CallLifecycle, log: CallLog, clock: Callable[[], float]
    ) -> None:
        self._call_id = call_id
        self._lifecycle = lifecycle
        self._log = log
        self.rejected_frames = 0
        self._rejected_limit = RateLimiter(clock)
        self.provider_errors = 0
        self._errors_limit = RateLimiter(clock)

    def frame_rejected(self, exc: ProtocolError) -> None:
        """A frame that could not be parsed, skipped."""
        self.rejected_frames += 1
        metrics.FRAMES_REJECTED.inc()
        held_back = self._rejected_limit.allow()
        if held_back is None:
            return
        self._log.report("skipping malformed provider frame: %s%s", exc, held_back_note(held_back))
        self._lifecycle.publish(
            MediaFramesRejected(call_id=self._call_id, count=held_back + 1, detail=str(exc)[:200])
        )

    def provider_error(self, error: ProviderErrorReported) -> None:
        """An error the provider reported on the stream (Telnyx ``error``); the call goes on."""
        self.provider_errors += 1
        held_back = self._errors_limit.allow()
        if held_back is None:
            return
        self._log.report(
            "provider reports %s %s: %s%s", error.code, error.title, error.detail, held_back_note(held_back)
        )
        self._lifecycle.publish(
            ProviderStreamError(
                call_id=self._call_id,
                code=error.code,
                title=error.title,
                detail=error.detail,
                suppressed=held_back,
            )
        )

    def format_notices(self, notices: list[str]) -> None:
        """Publish the stream's notices, and empty its list of them (see providers/base.py)."""
        for detail in notices:
            self._lifecycle.publish(MediaFormatNotice(call_id=self._call_id, detail=detail))
        notices.clear()

    def add_to_metrics(self) -> None:
        """The call's totals, once it has ended."""
        metrics.PROVIDER_ERRORS.inc(self.provider_errors)
        metrics.REPORTS_HELD_BACK.labels("frames_rejected").inc(self._rejected_limit.total_held_back)
        metrics.REPORTS_HELD_BACK.labels("provider_error").inc(self._errors_limit.total_held_back)
