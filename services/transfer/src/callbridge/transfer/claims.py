"""Claiming a call-control command before carrying it out: compare-and-set of its ``commandId`` in the
``callbridge_call_control`` bucket, taken before anything is sent to the provider.

A command delivered again after its claim (the replica died, or its acknowledgement was lost) finds it
claimed and is not carried out again: a transfer or keys sent twice would reach the caller twice. A claim is
given back only after a failure that left the provider untouched and is worth another try (the provider was
unavailable for a hang-up, which is idempotent anyway).
"""

from __future__ import annotations

import contextlib

from callbridge.common.call_control import CommandClaim
from callbridge.common.store import ConflictError, KvStore


class CommandClaims:
    def __init__(self, store: KvStore[CommandClaim]) -> None:
        self._store = store

    async def claim(self, command_id: str, command: str, body: str) -> bool:
        """Whether this replica now holds the command (False: claimed before, not released)."""
        try:
            await self._store.create(command_id, CommandClaim(command=command, body=body))
        except ConflictError:
            pass
        else:
            return True
        found = await self._store.find(command_id)
        if found is None or not found.value.released:
            return False
        try:
            await self._store.update(
                command_id, found.value.model_copy(update={"released": False}), found.revision
            )
        except ConflictError:
            return False  # another replica re-claimed it first
        return True

    async def release(self, command_id: str) -> None:
        """Give the claim back, so the next delivery carries the command out."""
        found = await self._store.find(command_id)
        if found is not None and not found.value.released:
            # Changed meanwhile (ConflictError): whoever changed it decides.
            with contextlib.suppress(ConflictError):
                await self._store.update(
                    command_id, found.value.model_copy(update={"released": True}), found.revision
                )

    async def body(self, command_id: str) -> str | None:
        """The claimed command as published (JSON), or None."""
        found = await self._store.find(command_id)
        return None if found is None else found.value.body
