"""Carrying out one call-control command against the provider's REST API, once, and announcing its outcome.

A command is claimed (claims.py) before anything is sent. A cold transfer first tells the media replica
holding the call (``TransferHandOff``), so that the stream's end the provider then causes is recorded as
``transferred`` and not as a hang-up; a transfer the provider refuses gives the call back to the agent
(``abort``). What a provider can do is its plugin's word (``transfer_refusal``, ``dtmf_refusal``): Exotel
has no transfer API, and where the imported config names the number its flow's Connect applet dials after
the Voicebot applet (``flowTransferTarget``), media ends the stream and the flow connects the caller. Every
outcome is a call event: ``transfer``, ``dtmf_sent``, ``provider.hang_up``.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import quote

from callbridge.common.bus import EventPublisher, Stores
from callbridge.common.call_control import ColdTransfer, ProviderHangUp, SendDtmf
from callbridge.common.call_records import call_provider
from callbridge.common.command_client import CommandError, MediaCommands
from callbridge.common.commands import CommandRefused, TransferHandOff
from callbridge.common.events import CallTransferred, DtmfSent, ProviderCallHungUp
from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider
from callbridge.common.warm_transfer import WarmTransfer, WarmTransferDecided
from callbridge.telephony import (
    ProviderApiError,
    ProviderRestClient,
    ProviderUnavailable,
    RestClients,
    StoredTelephonyConfig,
    TransferRequest,
    UnsupportedByProvider,
    provider_for,
)
from callbridge.transfer import metrics
from callbridge.transfer.claims import CommandClaims
from callbridge.transfer.warm import WarmTransfers

logger = logging.getLogger(__name__)

Command = ColdTransfer | SendDtmf | ProviderHangUp | WarmTransfer | WarmTransferDecided
T = TypeVar("T")


class Outcome(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    ALREADY_CLAIMED = "already_claimed"
    NOT_FOUND = "not_found"
    SKIPPED = "skipped"


class RetryLater(Exception):
    """The provider was unavailable for an idempotent command: the claim is given back, try again."""


class _Refused(Exception):
    """The command cannot be carried out; the message says why (the outcome event's ``detail``)."""


def plivo_transfer_xml_url(public_base_url: str, command: ColdTransfer) -> str:
    """Where Plivo fetches the transfer's ``<Dial>`` XML (webhooks serves it, signed as Plivo signs)."""
    return (
        f"{public_base_url.rstrip('/')}/api/calls/{command.call_id}/transfer_xml/plivo/"
        f"{quote(str(command.command_id))}"
    )


class CommandExecutor:
    def __init__(
        self,
        stores: Stores,
        claims: CommandClaims,
        publisher: EventPublisher,
        clients: RestClients,
        media: MediaCommands,
        public_base_url: str,
        warm: WarmTransfers | None = None,
    ) -> None:
        """``warm``: where warm transfers are carried out (None: refused, for tests of the rest)."""
        self._stores = stores
        self._claims = claims
        self._publisher = publisher
        self._clients = clients
        self._media = media
        self._public_base_url = public_base_url
        self._warm = warm

    async def execute(self, command: Command) -> Outcome:
        """Claim and carry out the command; ``RetryLater`` when it should be delivered again."""
        if not await self._claims.claim(str(command.command_id), command.command, command.model_dump_json()):
            logger.info("call %s: %s %s claimed before: not again", command.call_id, command.command,
                        command.command_id)  # fmt: skip
            return Outcome.ALREADY_CLAIMED
        found = await self._stores.calls.find(str(command.call_id))
        if found is None:
            logger.warning("call-control command for unknown call %s skipped", command.call_id)
            return Outcome.NOT_FOUND
        if isinstance(command, ColdTransfer):
            return await self._transfer(found.value, command)
        if isinstance(command, SendDtmf):
            return await self._send_dtmf(found.value, command)
        if isinstance(command, WarmTransfer | WarmTransferDecided):
            return await self._warm_step(found.value, command)
        return await self._hang_up(found.value, command)

    async def _account(
        self, call: Call, what: str
    ) -> tuple[Provider, str, StoredTelephonyConfig, ProviderRestClient]:
        provider = call_provider(call)
        if provider is None:
            raise _Refused(f"call {call.call_id} has no provider")
        details = call.provider_details
        if details is None or details.call_id is None:
            raise _Refused(f"the {provider.value} call's id is not known yet: it has not been answered")
        account = await self._clients.client(provider)
        name = provider_for(provider).display_name
        if account is None:
            raise _Refused(f"no {name} credentials are imported: {what} needs them")
        config, client = account
        return provider, details.call_id, config, client

    async def _transfer(self, call: Call, command: ColdTransfer) -> Outcome:
        provider = call_provider(call)
        handed_off = command.origin == "agent"  # the agent's tool handed the call off in media already
        try:
            if call.ended is not None:
                raise _Refused(f"the call has ended ({call.end_reason})")
            provider, provider_call_id, config, client = await self._account(call, "a transfer")
            plugin = provider_for(provider)
            refusal = plugin.transfer_refusal(
                config, command.target, hold_music=command.hold_music_url is not None
            )
            if refusal is not None:
                raise _Refused(refusal)
            await self._hand_off(call, command, close_stream=plugin.transfer_closes_stream)
            handed_off = True
            if not plugin.transfer_closes_stream:
                try:
                    await self._timed(
                        provider,
                        command,
                        client.transfer(
                            provider_call_id,
                            TransferRequest(
                                target=command.target,
                                extra_headers=command.extra_headers,
                                xml_url=plivo_transfer_xml_url(self._public_base_url, command),
                            ),
                        ),
                    )
                except (ProviderApiError, UnsupportedByProvider) as exc:
                    raise _Refused(
                        f"{provider_for(provider).display_name} refused the transfer: {exc}"
                    ) from exc
        except _Refused as exc:
            if handed_off:
                await self._abort(call, command, str(exc))  # the call is the agent's again
            await self._publisher.publish(
                CallTransferred(
                    call_id=call.call_id,
                    command_id=command.command_id,
                    outcome="failed",
                    target=command.target,
                    provider=provider,
                    origin=command.origin,
                    detail=str(exc)[:500],
                )
            )
            logger.warning("call %s: transfer to %s failed: %s", call.call_id, command.target, exc)
            return Outcome.FAILED
        await self._publisher.publish(
            CallTransferred(
                call_id=call.call_id,
                command_id=command.command_id,
                outcome="transferred",
                target=command.target,
                provider=provider,
                origin=command.origin,
            )
        )
        logger.info("call %s transferred to %s through %s", call.call_id, command.target, provider)
        return Outcome.DONE

    async def _warm_step(self, call: Call, command: WarmTransfer | WarmTransferDecided) -> Outcome:
        if self._warm is None:
            logger.error(
                "call %s: %s: this replica carries out no warm transfers", call.call_id, command.command
            )
            return Outcome.SKIPPED
        if isinstance(command, WarmTransfer):
            done = await self._warm.start(call, command)
        else:
            done = await self._warm.decide(command)
        return Outcome.DONE if done else Outcome.SKIPPED

    async def _hand_off(self, call: Call, command: ColdTransfer, *, close_stream: bool) -> None:
        """Tell the replica holding the call that a transfer is under way (it ends the stream itself for
        Exotel); ``_Refused`` if it cannot be told or refuses."""
        try:
            reply = await self._media.send(
                call.call_id, TransferHandOff(target=command.target, close_stream=close_stream)
            )
        except CommandError as exc:
            raise _Refused(f"the call's media replica cannot be reached: {exc}") from exc
        if isinstance(reply, CommandRefused):
            raise _Refused(f"the call's media replica refused the transfer: {reply.detail}")

    async def _abort(self, call: Call, command: ColdTransfer, detail: str) -> None:
        try:
            await self._media.send(
                call.call_id, TransferHandOff(phase="abort", target=command.target, detail=detail[:200])
            )
        except CommandError as exc:
            logger.warning("call %s: could not give the call back to the agent: %s", call.call_id, exc)

    async def _send_dtmf(self, call: Call, command: SendDtmf) -> Outcome:
        provider = call_provider(call)
        try:
            if call.ended is not None:
                raise _Refused(f"the call has ended ({call.end_reason})")
            provider, provider_call_id, _, client = await self._account(call, "sending DTMF")
            refusal = provider_for(provider).dtmf_refusal(tone_length=command.tone_ms is not None)
            if refusal is not None:
                raise _Refused(refusal)
            try:
                await self._timed(
                    provider,
                    command,
                    client.send_dtmf(provider_call_id, command.digits, tone_ms=command.tone_ms),
                )
            except (ProviderApiError, UnsupportedByProvider) as exc:
                raise _Refused(str(exc)) from exc
        except _Refused as exc:
            await self._publisher.publish(
                DtmfSent(
                    call_id=call.call_id,
                    command_id=command.command_id,
                    outcome="failed",
                    digits=command.digits,
                    provider=provider,
                    origin=command.origin,
                    detail=str(exc)[:500],
                )
            )
            return Outcome.FAILED
        await self._publisher.publish(
            DtmfSent(
                call_id=call.call_id,
                command_id=command.command_id,
                outcome="sent",
                digits=command.digits,
                provider=provider,
                origin=command.origin,
            )
        )
        return Outcome.DONE

    async def _hang_up(self, call: Call, command: ProviderHangUp) -> Outcome:
        provider = call_provider(call)
        details = call.provider_details
        if provider is None or details is None or details.call_id is None:
            return Outcome.SKIPPED
        account = await self._clients.client(provider)
        if account is None:
            metrics.PROVIDER_HANGUPS.labels(provider.value, "no_credentials").inc()
            await self._hung_up(call, command, provider, "no_credentials", "no credentials are imported")
            return Outcome.FAILED
        _, client = account
        try:
            result = await self._timed(provider, command, client.hang_up(details.call_id))
        except UnsupportedByProvider:
            return Outcome.SKIPPED  # Exotel: closing the stream is the hang-up (the flow's next applet)
        except ProviderUnavailable as exc:
            metrics.PROVIDER_HANGUPS.labels(provider.value, "unavailable").inc()
            await self._claims.release(str(command.command_id))
            raise RetryLater(str(exc)) from exc
        except ProviderApiError as exc:
            metrics.PROVIDER_HANGUPS.labels(provider.value, "refused").inc()
            await self._hung_up(call, command, provider, "failed", str(exc))
            return Outcome.FAILED
        metrics.PROVIDER_HANGUPS.labels(provider.value, result.value).inc()
        await self._hung_up(call, command, provider, result.value, None)
        logger.info("call %s: %s call %s: %s", call.call_id, provider.value, details.call_id, result.value)
        return Outcome.DONE

    async def _hung_up(
        self, call: Call, command: ProviderHangUp, provider: Provider, result: str, detail: str | None
    ) -> None:
        await self._publisher.publish(
            ProviderCallHungUp(
                call_id=call.call_id,
                command_id=command.command_id,
                provider=provider,
                result=result,  # type: ignore[arg-type]  # one of the Literal's values, by construction
                detail=detail[:500] if detail else None,
            )
        )

    async def _timed(
        self, provider: Provider, command: ColdTransfer | SendDtmf | ProviderHangUp, request: Awaitable[T]
    ) -> T:
        started = time.monotonic()
        try:
            return await request
        finally:
            metrics.PROVIDER_SECONDS.labels(provider.value, command.command).observe(
                time.monotonic() - started
            )
