"""A call's background tasks: each named and kept, its failure logged, all cancelled when the call ends.

Nothing a call starts is fire-and-forget: closing the provider socket, a hang-up playing out, the agent's
connection, a padded tail frame. Each is a task here, so the call's end can cancel and await what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any
from uuid import UUID

from callbridge.media.ratelimit import CallLog


class CallTasks:
    def __init__(self, call_id: UUID, log: CallLog) -> None:
        self._call_id = call_id
        self._log = log
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coroutine, name=f"{name}-{self._call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    async def cancel_all(self) -> None:
        """Cancel every task still running (but the one calling this) and wait until they have stopped."""
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current and not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("task %s failed", task.get_name(), exc_info=task.exception() or False)
