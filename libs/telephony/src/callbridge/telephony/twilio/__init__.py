"""Twilio: credentials, webhooks (signature, incoming call, answer, status callbacks) and the REST client."""

from callbridge.telephony.twilio.provider import TwilioProvider

__all__ = ["TwilioProvider"]
