"""The provider WebSocket as the call session needs it: one small interface, and its ``websockets`` adapter.

The session reads the stream through ``recv`` only, in one loop. What the server reads before the session
exists (the first messages of a call without a ``medium``, to recognise the provider) is read with
``prefetch``, kept by the adapter and handed out again by ``recv`` first, so the session sees the stream
from its first message and has no replay of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConcurrencyError, ConnectionClosed

# A provider that stops reading must not grow our memory: past this much unsent data, frames are dropped.
MAX_WRITE_BUFFER_BYTES = 64 * 1024


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


class WebsocketsProviderSocket:
    """:class:`ProviderSocket` over a ``websockets`` server connection."""

    def __init__(self, connection: ServerConnection) -> None:
        self._connection = connection
        self._receiving = False
        self._prefetched: collections.deque[str | bytes] = collections.deque()

    async def prefetch(self) -> str | bytes | None:
        """Read the next message ahead of the session; ``recv`` returns it again, in order."""
        message = await self._recv()
        if message is not None:
            self._prefetched.append(message)
        return message

    async def recv(self) -> str | bytes | None:
        if self._prefetched:  # an empty deque's test is all this costs a frame once the replay is over
            return self._prefetched.popleft()
        # _recv's body again, inline: one coroutine layer less on every provider message.
        self._receiving = True
        try:
            return await self._connection.recv(decode=False)
        except ConnectionClosed:
            return None
        finally:
            self._receiving = False

    async def _recv(self) -> str | bytes | None:
        # decode=False: text frames arrive as their raw bytes, undecoded. The parser reads JSON from bytes
        # (orjson validates UTF-8 itself), so a frame that is not UTF-8 is one rejected frame, where
        # decoding here would make websockets fail the whole connection with 1007 and end the call. It also
        # saves building a str per frame.
        self._receiving = True
        try:
            return await self._connection.recv(decode=False)
        except ConnectionClosed:
            return None
        finally:
            self._receiving = False

    async def send(self, message: str) -> bool:
        connection = self._connection
        if connection.transport.get_write_buffer_size() > MAX_WRITE_BUFFER_BYTES:
            return False
        try:
            await connection.send(message)
        except ConnectionClosed:
            return False
        return True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close, and unless the call is still reading, discard what the provider sends meanwhile.

        A provider streams until it reads our close frame; its answer comes behind that audio. Once nobody
        reads, websockets stops reading at its queue limit, so the answer would never be read and the
        close would wait out the close timeout, holding the call (and its end) for seconds.
        """
        discard = None
        if not self._receiving:
            self._receiving = True  # one reader at a time: the session's loop, or this
            discard = asyncio.create_task(self._discard_incoming(), name="discard-provider-frames")
        try:
            await self._connection.close(code, reason)
        finally:
            if discard is not None:
                discard.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await discard

    async def _discard_incoming(self) -> None:
        with contextlib.suppress(ConnectionClosed, ConcurrencyError):
            while True:
                await self._connection.recv(decode=False)

    @property
    def close_code(self) -> int | None:
        return self._connection.close_code
