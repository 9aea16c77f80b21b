"""Telnyx: credentials, webhooks (signature, incoming call, answer, status callbacks) and the REST client."""

from callbridge.telephony.telnyx.provider import TelnyxProvider

__all__ = ["TelnyxProvider"]
