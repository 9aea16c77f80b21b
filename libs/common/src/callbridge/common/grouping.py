"""Group commit: requests that arrive while a write is in flight are written together by the next one.

Records that many callers change at once (an index chain's head, an account's capacity ledger) are
compare-and-set records: one round trip per change, retried when another writer won. Callers of one
process queue their requests here instead; one task takes everything queued and writes it in one change,
so a burst of N requests costs a few writes, not N racing ones, and replicas race only with each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Request = TypeVar("Request")
Result = TypeVar("Result")


class GroupCommitter(Generic[Request, Result]):
    """Runs ``commit`` on batches of queued requests; each caller gets its own request's result.

    ``commit(batch)`` returns one result per request, in order; if it raises, every request of that batch
    gets the exception.
    """

    def __init__(
        self,
        commit: Callable[[Sequence[Request]], Awaitable[Sequence[Result]]],
        *,
        name: str,
        max_batch: int = 256,
    ) -> None:
        self._commit = commit
        self._name = name
        self._max_batch = max_batch
        self._waiting: list[tuple[Request, asyncio.Future[Result]]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return self._task is None and not self._waiting

    async def submit(self, request: Request) -> Result:
        done: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, done))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"group-commit-{self._name}")
            self._task.add_done_callback(self._finished)
        return await done

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
                try:
                    results = await self._commit([request for request, _ in batch])
                except Exception as exc:  # every caller of the batch learns why
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for (_, done), result in zip(batch, results, strict=True):
                        if not done.done():
                            done.set_result(result)
        finally:
            # Cleared here, not in a done callback, so a request arriving after the last batch was settled
            # starts a new run instead of joining a finished one.
            self._task = None
            stopped = RuntimeError(f"{self._name}: the writer stopped")
            for _, done in self._waiting:  # cancelled with callers still waiting: tell them
                if not done.done():
                    done.set_exception(stopped)
            self._waiting = []

    def _finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("group commit %s failed", self._name, exc_info=task.exception())
