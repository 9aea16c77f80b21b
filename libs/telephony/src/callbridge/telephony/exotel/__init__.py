"""Exotel: credentials, webhooks (shared secret, incoming call, answer, status) and the REST client."""

from callbridge.telephony.exotel.provider import ExotelProvider

__all__ = ["ExotelProvider"]
