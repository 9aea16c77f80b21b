"""The provider plugin: everything callbridge knows about one telephony provider, behind one interface.

Each provider's sub-package (``twilio/``, ``telnyx/``, ``plivo/``, ``exotel/``) implements it; the registry
maps the ``Provider`` enum to that implementation. Services ask the registry and never branch on the
provider themselves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic

from callbridge.common.models.medium import CallMedium, Provider
from callbridge.common.models.sealing import Decrypt
from callbridge.telephony.credentials import CredentialModels, StoredT
from callbridge.telephony.incoming import IncomingCall, StreamPlan
from callbridge.telephony.request import ProviderRequest
from callbridge.telephony.rest.client import ProviderRestClient
from callbridge.telephony.rest.params import check_additional_params, param_key
from callbridge.telephony.settings import TelephonyApiSettings
from callbridge.telephony.status import ProviderStatus


@dataclass(frozen=True, slots=True)
class Verified:
    """A request whose signature (or secret) checked out."""

    replay_key: bytes | None
    """The signature to remember as used, so that the same request is refused when it comes again; None when
    the request carries nothing that identifies it (Exotel's shared secret)."""
    replay_on_answer: bool = False
    """Remember ``replay_key`` only when the request creates a call: Twilio signs no timestamp or nonce, so
    its retry of a slow answer carries the very same signature and must get the same call back."""


class TelephonyProvider(ABC, Generic[StoredT]):
    """One provider: its credentials, webhooks, answer documents, status callbacks and REST client."""

    provider: ClassVar[Provider]
    display_name: ClassVar[str]
    """How messages name it: ``Twilio``."""
    credentials: ClassVar[CredentialModels[Any]]
    """Its create, update, public and stored credential models."""
    credential_hint: ClassVar[str]
    """What its requests carry to prove where they come from, for error messages."""
    takes_path_secret: ClassVar[bool] = False
    """Whether its requests may carry a secret as the URL's last path segment (Exotel signs nothing)."""
    status_accepts_json: ClassVar[bool] = False
    """Whether its status callbacks may be JSON (Telnyx Call Control webhooks) rather than a form."""
    dial_reserved_params: ClassVar[frozenset[str]]
    dial_ring_timeout_param: ClassVar[str]
    """The create-call parameter that bounds how long the callee's phone rings (Twilio ``Timeout``)."""
    dial_is_idempotent: ClassVar[bool] = False
    """Whether a dial sent again with the same call id places no second call (Telnyx's ``command_id``): a
    dial whose answer was lost may then be sent again."""
    """The create-call parameters callbridge sets on every outbound call, in the provider's names."""
    can_transfer: ClassVar[bool] = False
    """Whether its REST API transfers a live call (a cold transfer: the REST client's ``transfer``)."""
    transfer_closes_stream: ClassVar[bool] = False
    """Whether a transfer is made by ending the stream so the provider's flow goes on (Exotel)."""
    transfer_hold_music: ClassVar[bool] = False
    """Whether a transfer can play hold music while the target rings (Plivo ``<Dial dialMusic>``)."""
    can_send_dtmf: ClassVar[bool] = False
    """Whether its REST API presses keys on a live call, out of band."""
    dtmf_tone_length: ClassVar[bool] = False
    """Whether that API takes each key's length (Telnyx ``duration_millis``)."""

    def transfer_refusal(self, config: StoredT, target: str, *, hold_music: bool) -> str | None:
        """Why a cold transfer to ``target`` cannot be made with the imported ``config``; None if it can."""
        if not self.can_transfer:
            return f"{self.display_name} has no API to transfer a live call"
        if hold_music and not self.transfer_hold_music:
            return f"holdMusicUrl: {self.display_name} plays no hold music on a cold transfer (Plivo does)"
        return None

    def dtmf_refusal(self, *, tone_length: bool) -> str | None:
        """Why keys cannot be sent out of band on this provider; None if they can."""
        if not self.can_send_dtmf:
            return (
                f"{self.display_name} has no API to send DTMF on a live call (Telnyx and Plivo do): "
                "the agent's playDtmfSounds plays the tones in band"
            )
        if tone_length and not self.dtmf_tone_length:
            return f"toneDuration: {self.display_name} chooses the key length itself; leave it out"
        return None

    def check_dial_params(self, additional_params: Mapping[str, Any]) -> None:
        """``InvalidDialRequest`` if ``additionalParams`` set one of ``dial_reserved_params`` in any
        spelling (``statusCallback`` is Twilio's ``StatusCallback``): what an outbound call's creation
        checks, before anything is dialed. The dial checks again, with the ring timeout if it sets one."""
        check_additional_params(self.provider, additional_params, self.dial_reserved_params)

    def sets_ring_timeout(self, additional_params: Mapping[str, Any]) -> bool:
        """Whether ``additionalParams`` choose the ring timeout themselves (in any spelling): the dial then
        leaves its own out."""
        wanted = param_key(self.dial_ring_timeout_param)
        return any(param_key(name) == wanted for name in additional_params)

    @abstractmethod
    def carries_credentials(self, request: ProviderRequest) -> bool:
        """Whether the request carries this provider's credential material (signature, timestamp, nonce,
        secret): how the provider of an incoming-call webhook is told."""

    @abstractmethod
    def verify(self, request: ProviderRequest, config: StoredT, decrypt: Decrypt, now_s: float) -> Verified:
        """Check the request against the imported credentials; ``RequestNotVerified`` naming what was
        wrong otherwise. ``decrypt`` opens the stored secrets; ``now_s`` is Unix time for timestamps."""

    @abstractmethod
    def incoming_call(self, request: ProviderRequest, config: StoredT) -> IncomingCall:
        """The verified incoming-call webhook's call; ``InvalidProviderRequest`` if a needed field is
        missing, ``RequestNotVerified`` if it is another account's."""

    @abstractmethod
    def plan_stream(self, config: StoredT, template: CallMedium | None) -> StreamPlan:
        """The stream's audio and the answer that asks for it: the agent template's ``medium`` if it names
        this provider, else the config's defaults, else the provider's default (L16 at 16 kHz where it
        can)."""

    @abstractmethod
    def parse_status(self, request: ProviderRequest) -> ProviderStatus:
        """A verified status callback; ``InvalidProviderRequest`` if it says no status."""

    def callback_url(self, url: str, config: StoredT, decrypt: Decrypt) -> str:
        """``url`` as the provider must be given it to post the call's callbacks so they verify: as it is
        for a provider that signs its requests; Exotel's with the webhook secret as Basic Auth."""
        return url

    @abstractmethod
    def rest_client(
        self, config: StoredT, decrypt: Decrypt, settings: TelephonyApiSettings
    ) -> ProviderRestClient:
        """A REST client for the imported account, at ``settings``' API URL for this provider."""
