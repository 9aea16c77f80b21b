"""The URLs a dial gives the provider: the join URL (signed as the webhooks service signs it), the call's
status callback route and Plivo's answer route, both served by the webhooks service."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from callbridge.common.join_tokens import JoinTokenSigner, join_url
from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider


@dataclass(frozen=True, slots=True)
class DialUrls:
    signer: JoinTokenSigner
    public_base_url: str
    """The webhooks service as providers reach it."""
    media_public_url: str

    def join_url(self, call: Call) -> str:
        """The call's join URL: the token depends only on the call id and join deadline, so it is the one
        the creating request returned."""
        return join_url(
            self.media_public_url, call.call_id, self.signer.sign(call.call_id, call.join_deadline())
        )

    def status_callback_url(self, call_id: UUID, provider: Provider) -> str:
        return f"{self._base}/api/calls/{call_id}/provider_status/{provider.value}"

    def answer_url(self, call_id: UUID, provider: Provider) -> str:
        return f"{self._base}/api/calls/{call_id}/answer/{provider.value}"

    @property
    def _base(self) -> str:
        return self.public_base_url.rstrip("/")
