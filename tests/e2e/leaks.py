"""Looking for secrets where they must not be: every log record of the process, every event, every answer.

A planted secret counts as leaked when any 8-character stretch of it appears: a prefix of up to 4
characters may be shown (that is how the API shows secrets), anything longer is a leak.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

WINDOW = 8
"""Longer than the 4-character prefixes the API shows; random secrets make a chance match negligible."""


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class LogCapture:
    """Every record every logger of this process emits, at DEBUG, formatted with its arguments."""

    _collector: _Collector = field(default_factory=_Collector)
    _saved: list[tuple[logging.Logger, int, bool]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self._collector.lines)

    @property
    def count(self) -> int:
        return len(self._collector.lines)

    def attach(self) -> None:
        """Set every logger known now to DEBUG and collect from it, including loggers that do not
        propagate (uvicorn configures its own). Call again after components that configure logging."""
        loggers = [logging.getLogger()] + [
            logger
            for logger in logging.root.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ]
        for logger in loggers:
            if all(saved is not logger for saved, _, _ in self._saved):
                self._saved.append((logger, logger.level, self._collector in logger.handlers))
            logger.setLevel(logging.DEBUG)
            if (
                logger is logging.getLogger() or not logger.propagate
            ) and self._collector not in logger.handlers:
                logger.addHandler(self._collector)

    def detach(self) -> None:
        for logger, level, had_collector in self._saved:
            logger.setLevel(level)
            if not had_collector and self._collector in logger.handlers:
                logger.removeHandler(self._collector)


@contextlib.contextmanager
def capture_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    capture.attach()
    try:
        yield capture
    finally:
        capture.detach()


def leaks(haystacks: Mapping[str, str], secrets: Mapping[str, str]) -> list[str]:
    """``"<secret name> in <haystack name>: …<context>…"`` for every secret found beyond its prefix."""
    found: list[str] = []
    for secret_name, secret in secrets.items():
        windows = {secret[i : i + WINDOW] for i in range(max(1, len(secret) - WINDOW + 1))}
        for haystack_name, haystack in haystacks.items():
            for window in windows:
                at = haystack.find(window)
                if at >= 0:
                    context = haystack[max(0, at - 60) : at + len(window) + 20].replace("\n", " ")
                    found.append(f"{secret_name} in {haystack_name}: …{context}…")
                    break
    return found


async def stream_text(js: JetStreamContext, stream: str, subject: str) -> str:
    """Every message the JetStream ``stream`` holds on ``subject`` (KV buckets keep past revisions too),
    decoded and joined: what anyone allowed to read the stream can see."""
    total = (await js.stream_info(stream)).state.messages
    received: list[bytes] = []
    subscription = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    try:
        while len(received) < total:
            received.append((await subscription.next_msg(timeout=5)).data)
    finally:
        await subscription.unsubscribe()
    return "\n".join(data.decode(errors="replace") for data in received)
