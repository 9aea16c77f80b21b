"""The provider WebSocket as the call session needs it: one small interface, so the library can change."""

from __future__ import annotations

from typing import Protocol


class ProviderSocket(Protocol):
    async def recv(self) -> str | bytes | None:
        """The next inbound message; None once the peer has closed (quietly, whatever the close code)."""
        ...

    async def send(self, message: str) -> bool:
        """Send a text message; False when it was dropped (peer gone or not reading)."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    @property
    def close_code(self) -> int | None: ...
