"""Which provider sent a webhook: told by the credential material the request carries, among the providers
whose credentials are imported. Nothing is guessed: zero or several candidates is a clear error."""

from __future__ import annotations

from callbridge.common.models.medium import Provider
from callbridge.webhooks import exotel, plivo, telnyx, twilio
from callbridge.webhooks.errors import ForbiddenError, UnknownProviderError
from callbridge.webhooks.provider_request import ProviderRequest

PROVIDER_NAMES = {
    Provider.TWILIO: "Twilio",
    Provider.TELNYX: "Telnyx",
    Provider.PLIVO: "Plivo",
    Provider.EXOTEL: "Exotel",
}

_CREDENTIAL_HEADERS = {
    Provider.TWILIO: twilio.CREDENTIAL_HEADERS,
    Provider.TELNYX: telnyx.CREDENTIAL_HEADERS,
    Provider.PLIVO: plivo.CREDENTIAL_HEADERS,
}
_WHAT_EACH_SENDS = {
    Provider.TWILIO: twilio.SIGNATURE_HEADER,
    Provider.TELNYX: f"{telnyx.SIGNATURE_HEADER} (or {telnyx.STANDARD_SIGNATURE_HEADER})",
    Provider.PLIVO: plivo.SIGNATURE_HEADER,
    Provider.EXOTEL: "Authorization: Basic or the webhook secret in the path",
}


def providers_seen(request: ProviderRequest) -> frozenset[Provider]:
    """The providers whose credential material (signature, timestamp, nonce, secret) the request carries."""
    seen = {
        provider
        for provider, headers in _CREDENTIAL_HEADERS.items()
        if any(header in request.headers for header in headers)
    }
    if exotel.carries_secret(request):
        seen.add(Provider.EXOTEL)
    return frozenset(seen)


def detect_provider(request: ProviderRequest, imported: frozenset[Provider]) -> Provider:
    """The one provider that both signed the request and has imported credentials.

    A request that carries one provider's credentials without that provider's config is refused (403: it
    cannot be verified); one that carries several providers' credentials, or none while several
    providers are imported, is refused as ambiguous (400). With one provider imported and no credentials
    in the request, the signature is simply missing (403).
    """
    seen = providers_seen(request)
    candidates = seen & imported
    if len(candidates) == 1:
        return next(iter(candidates))
    if len(candidates) > 1:
        raise UnknownProviderError(
            f"ambiguous provider webhook: it carries the credentials of {_names(candidates)}; "
            "a provider's request carries its own only"
        )
    if len(seen) == 1:
        name = PROVIDER_NAMES[next(iter(seen))]
        raise ForbiddenError(f"no {name} credentials imported: cannot verify the request")
    if seen:
        raise UnknownProviderError(
            f"provider webhook carries the credentials of {_names(seen)}, none of which are imported"
        )
    if not imported:
        raise ForbiddenError("no telephony credentials imported: cannot verify the request")
    if len(imported) == 1:
        only = next(iter(imported))
        raise ForbiddenError(
            f"missing {_WHAT_EACH_SENDS[only]}: the request is not signed "
            f"({PROVIDER_NAMES[only]} is the only provider imported)"
        )
    raise UnknownProviderError(
        "cannot tell which provider sent this webhook: it carries none of "
        + ", ".join(_WHAT_EACH_SENDS[provider] for provider in _in_order(imported))
        + f" (imported: {_names(imported)})"
    )


def _names(providers: frozenset[Provider]) -> str:
    return " and ".join(PROVIDER_NAMES[provider] for provider in _in_order(providers))


def _in_order(providers: frozenset[Provider]) -> list[Provider]:
    return [provider for provider in Provider if provider in providers]
