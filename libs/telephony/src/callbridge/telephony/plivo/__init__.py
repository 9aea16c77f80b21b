"""Plivo: credentials, webhooks (signature, incoming call, answer, status callbacks) and the REST client."""

from callbridge.telephony.plivo.provider import PlivoProvider

__all__ = ["PlivoProvider"]
