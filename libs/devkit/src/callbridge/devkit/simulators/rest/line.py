"""A call as a simulated account's REST API sees it: its id, its status, whether the API hung it up,
transferred it, or pressed keys on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SimulatedProviderCall"]


@dataclass
class SimulatedProviderCall:
    """A call the simulated account has: its id and its status in the provider's own words."""

    call_id: str
    status: str
    hung_up_by_api: bool = False
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the REST API hangs the call up or transfers it: the call's media stream (an outbound call in
    progress, outbound.py, or a stream given it as ``hang_up``) stops on it."""
    transferred_to: str | None = None
    """Where the REST API transferred the call (a number or SIP URI); the stream stopped then."""
    transfer_headers: dict[str, str] = field(default_factory=dict)
    conference: str | None = None
    """The conference or bridge the REST API joined the call to (a warm transfer accepted)."""
    stream_stopped: bool = False
    """The REST API ended the call's stream (a join, Telnyx ``streaming_stop``) without ending the call."""
    dtmf_sent: list[str] = field(default_factory=list)
    """The digits the REST API sent on the call, one entry per request, as asked."""
    refuse_dtmf: str | None = None
    """A test's script: the REST API refuses keys on this call with this message (the provider's error)."""
    key_listeners: list[Callable[[str], None]] = field(default_factory=list)
    """Who hears the keys the REST API sends (out of band): the call's phone menu, when it has one."""

    def press_keys(self, digits: str) -> None:
        """The REST API sent ``digits`` on the call, out of band: recorded, and heard by the listeners."""
        self.dtmf_sent.append(digits)
        for listener in self.key_listeners:
            listener(digits)

    def hang_up_by_api(self, status: str) -> None:
        """The REST API ended the call: it now has ``status``."""
        self.status = status
        self.hung_up_by_api = True
        self.hung_up.set()

    def transfer_by_api(self, target: str, headers: dict[str, str] | None = None) -> None:
        """The REST API sent the call to ``target``: the provider stops its stream, and the call goes on
        with the target (it keeps its live status)."""
        self.transferred_to = target
        self.transfer_headers = dict(headers or {})
        self.hung_up.set()

    def stop_stream(self) -> None:
        """The REST API ended the call's media stream; the call goes on (in a conference or bridge, or
        parked)."""
        self.stream_stopped = True
        self.hung_up.set()
