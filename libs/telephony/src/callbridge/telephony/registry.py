"""The providers callbridge knows, by ``Provider``, and telling which one sent a webhook.

A webhook's provider is told by the credential material it carries, among the providers whose credentials
are imported. Nothing is guessed: zero or several candidates is a clear error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import RequestNotVerified, UnknownProvider
from callbridge.telephony.exotel import ExotelProvider
from callbridge.telephony.plivo import PlivoProvider
from callbridge.telephony.provider import TelephonyProvider
from callbridge.telephony.request import ProviderRequest
from callbridge.telephony.telnyx import TelnyxProvider
from callbridge.telephony.twilio import TwilioProvider

PROVIDERS: Mapping[Provider, TelephonyProvider[Any]] = MappingProxyType(
    {
        plugin.provider: plugin
        for plugin in (TwilioProvider(), TelnyxProvider(), PlivoProvider(), ExotelProvider())
    }
)
"""Every provider, in the order of the ``Provider`` enum."""


def provider_for(provider: Provider) -> TelephonyProvider[Any]:
    return PROVIDERS[provider]


def providers_seen(request: ProviderRequest) -> frozenset[Provider]:
    """The providers whose credential material (signature, timestamp, nonce, secret) the request carries."""
    return frozenset(name for name, plugin in PROVIDERS.items() if plugin.carries_credentials(request))


def detect_provider(request: ProviderRequest, imported: frozenset[Provider]) -> Provider:
    """The one provider that both signed the request and has imported credentials.

    A request that carries one provider's credentials without that provider's config is refused (it
    cannot be verified); one that carries several providers' credentials, or none while several
    providers are imported, is refused as ambiguous. With one provider imported and no credentials in the
    request, the signature is simply missing.
    """
    seen = providers_seen(request)
    candidates = seen & imported
    if len(candidates) == 1:
        return next(iter(candidates))
    if len(candidates) > 1:
        raise UnknownProvider(
            f"ambiguous provider webhook: it carries the credentials of {_names(candidates)}; "
            "a provider's request carries its own only"
        )
    if len(seen) == 1:
        name = PROVIDERS[next(iter(seen))].display_name
        raise RequestNotVerified(f"no {name} credentials imported: cannot verify the request")
    if seen:
        raise UnknownProvider(
            f"provider webhook carries the credentials of {_names(seen)}, none of which are imported"
        )
    if not imported:
        raise RequestNotVerified("no telephony credentials imported: cannot verify the request")
    if len(imported) == 1:
        only = PROVIDERS[next(iter(imported))]
        raise RequestNotVerified(
            f"missing {only.credential_hint}: the request is not signed "
            f"({only.display_name} is the only provider imported)"
        )
    raise UnknownProvider(
        "cannot tell which provider sent this webhook: it carries none of "
        + ", ".join(PROVIDERS[provider].credential_hint for provider in _in_order(imported))
        + f" (imported: {_names(imported)})"
    )


def _names(providers: Iterable[Provider]) -> str:
    return " and ".join(PROVIDERS[provider].display_name for provider in _in_order(providers))


def _in_order(providers: Iterable[Provider]) -> list[Provider]:
    chosen = set(providers)
    return [provider for provider in PROVIDERS if provider in chosen]
