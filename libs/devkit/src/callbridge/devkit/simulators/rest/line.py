"""A call as a simulated account's REST API sees it: its id, its status, whether the API hung it up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["SimulatedProviderCall"]


@dataclass
class SimulatedProviderCall:
    """A call the simulated account has: its id and its status in the provider's own words."""

    call_id: str
    status: str
    hung_up_by_api: bool = False
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the REST API hangs the call up: an outbound call in progress (outbound.py) ends on it."""

    def hang_up_by_api(self, status: str) -> None:
        """The REST API ended the call: it now has ``status``."""
        self.status = status
        self.hung_up_by_api = True
        self.hung_up.set()
