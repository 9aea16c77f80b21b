"""Exotel: credentials, webhooks (signature, incoming call, answer, status callbacks) and the REST client."""

from callbridge.telephony.exotel.provider import ExotelProvider

__all__ = ["ExotelProvider"]
