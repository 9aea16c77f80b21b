"""Records written by an older callbridge, brought up to date when webhooks starts."""

from __future__ import annotations

import logging

from callbridge.common.bus import Stores
from callbridge.common.models.agent import Agent
from callbridge.common.models.sealing import Encrypt
from callbridge.common.store import CorruptRecordError, UnchangedError

logger = logging.getLogger(__name__)


async def seal_plaintext_agent_headers(stores: Stores, encrypt: Encrypt) -> int:
    """Seal the header values that callbridge 0.1 stored in the clear in agents' call templates.

    Agents are few, so every start checks them all; a call record keeps its old headers (media reads both
    forms) until it expires. Returns how many agents were sealed.
    """
    sealed = 0
    for key in await stores.agents.keys():
        try:
            found = await stores.agents.find(key)
        except CorruptRecordError as exc:  # listings skip it too; nothing to seal in what cannot be read
            logger.error("agent %s cannot be read: %s", key, exc)
            continue
        backend = found.value.call_template.agent_backend if found is not None else None
        if backend is None or not backend.has_plaintext_headers:
            continue

        def reseal(agent: Agent) -> Agent:
            current = agent.call_template.agent_backend
            if current is None or not current.has_plaintext_headers:
                raise UnchangedError
            template = agent.call_template.model_copy(update={"agent_backend": current.resealed(encrypt)})
            return agent.model_copy(update={"call_template": template})

        await stores.agents.mutate(key, reseal)
        sealed += 1
    if sealed:
        logger.info("sealed the plaintext agent headers of %d agents stored by callbridge 0.1", sealed)
    return sealed
