"""Sending a command to a live call: one NATS request to the replica that holds it, its reply typed.

NATS answers a request nobody subscribes to with a "no responders" status at once, so "no replica holds
this call" is learned in one round trip rather than a timeout: :class:`CallNotHeldError`. What that means
depends on the call's record (not joined yet, ended, or its replica lost), which only the sender can read.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from callbridge.common import subjects
from callbridge.common.commands import (
    CallCommand,
    CommandReply,
    InvalidCommandError,
    parse_reply,
)

COMMAND_TIMEOUT_S: Final = 5.0
"""A replica answers at once (the command's effect may take longer); past this it is not answering."""


class CommandError(Exception):
    """A command could not be delivered or answered."""


class CallNotHeldError(CommandError):
    """No media replica holds the call's stream (NATS had no responder for it)."""


class CommandTimeoutError(CommandError):
    """The replica (or NATS) did not answer in time."""


class MediaCommands:
    """Sends commands to the media replica holding a call, over one NATS connection."""

    def __init__(self, connection: Client, *, timeout_s: float = COMMAND_TIMEOUT_S) -> None:
        self._connection = connection
        self._timeout_s = timeout_s

    async def send(self, call_id: UUID, command: CallCommand) -> CommandReply:
        subject = subjects.media_command(call_id, command.command)
        try:
            message = await self._connection.request(subject, command.to_json(), timeout=self._timeout_s)
        except NoRespondersError:
            raise CallNotHeldError(f"no media replica holds call {call_id}") from None
        except NatsTimeoutError:
            raise CommandTimeoutError(
                f"the media replica holding call {call_id} did not answer within {self._timeout_s:g} s"
            ) from None
        except NatsError as exc:  # connection closed or draining: NATS itself is not reachable
            raise CommandTimeoutError(f"NATS is not reachable to send {command.command}: {exc}") from exc
        try:
            return parse_reply(message.data)
        except InvalidCommandError as exc:
            raise CommandError(f"the media replica holding call {call_id} answered {exc}") from exc
