"""Each call's command channel: the replica holding a call answers the commands sent to it over NATS.

While a call's session runs, its replica subscribes to ``callbridge.media.<callId>.*`` (core NATS, one
subscription per call, opened before the session starts and closed once its end is recorded). A request
is parsed into its typed command at this edge (anything unreadable is refused, never acted on), carried
out by command_handlers.py and answered with a typed reply. Because only the holder subscribes, a
request for a call nobody holds gets NATS's "no responders" at once (see callbridge.common.commands).
A failure here never reaches the call: it is logged and answered as refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from callbridge.common import subjects
from callbridge.common.commands import (
    CommandRefused,
    CommandReply,
    InvalidCommandError,
    RefusalReason,
    parse_command,
)
from callbridge.media.command_handlers import carry_out
from callbridge.media.control import CallControl
from callbridge.media.ratelimit import CallLog


class CommandChannel:
    """The per-call command subscriptions of one media replica, on its NATS connection."""

    def __init__(self, connection: Client) -> None:
        self._connection = connection

    @contextlib.asynccontextmanager
    async def open(self, call: CallControl, log: CallLog) -> AsyncIterator[None]:
        """The call takes commands while in this block."""
        subject = subjects.media_commands_of(call.call_id)
        subscription = None
        try:
            subscription = await self._connection.subscribe(subject, cb=partial(self._on_request, call, log))
        except NatsError as exc:  # NATS closed: the call goes on without commands
            log.warning("cannot take commands (%s): the call goes on without them", exc)
        try:
            yield
        finally:
            if subscription is not None:
                try:
                    await subscription.unsubscribe()
                except NatsError as exc:  # closed or draining: the subscription goes with the connection
                    log.info("leaving the command subscription: %s", exc)

    async def _on_request(self, call: CallControl, log: CallLog, request: Msg) -> None:
        reply = await self._reply_to(call, log, request)
        if not request.reply:
            return  # a publish, not a request: carried out, nobody to answer
        try:
            await request.respond(reply.to_json())
        except NatsError as exc:
            log.warning("cannot answer a command: %s", exc)

    async def _reply_to(self, call: CallControl, log: CallLog, request: Msg) -> CommandReply:
        verb = subjects.command_verb(request.subject)
        try:
            command = parse_command(request.data)
        except InvalidCommandError as exc:
            log.warning("refused a command: %s", exc)
            return CommandRefused(reason=RefusalReason.INVALID, detail=str(exc))
        if command.command != verb:
            return CommandRefused(
                reason=RefusalReason.INVALID,
                detail=f"the subject's verb {verb[:40]!r} is not the command's {command.command!r}",
            )
        try:
            return await carry_out(command, call)
        except Exception as exc:
            log.error("carrying out %s failed", command.command, exc_info=exc)
            return CommandRefused(
                reason=RefusalReason.FAILED, detail=f"{command.command} failed on the replica"
            )
