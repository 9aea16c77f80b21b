"""The providers' REST APIs for a live call, simulated: what callbridge's REST clients talk to in tests and
in a local stack (``CALLBRIDGE_<PROVIDER>_API_URL``). One module per provider, its documented paths,
authentication and error bodies."""

from callbridge.devkit.simulators.rest.base import ApiRequest, SimulatedProviderCall, SimulatedRestApi
from callbridge.devkit.simulators.rest.exotel import ExotelRestApi
from callbridge.devkit.simulators.rest.plivo import PlivoRestApi
from callbridge.devkit.simulators.rest.telnyx import TelnyxRestApi
from callbridge.devkit.simulators.rest.twilio import TwilioRestApi

__all__ = [
    "ApiRequest",
    "ExotelRestApi",
    "PlivoRestApi",
    "SimulatedProviderCall",
    "SimulatedRestApi",
    "TelnyxRestApi",
    "TwilioRestApi",
]
