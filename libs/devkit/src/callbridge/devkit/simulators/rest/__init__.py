"""The providers' REST APIs, simulated: what callbridge's REST clients talk to in tests and in a local stack
(``CALLBRIDGE_<PROVIDER>_API_URL``), and with ``callbridge sim account`` a whole simulated provider account.
One module per provider for its documented paths, authentication and error bodies (``<provider>.py``) and
one for its outbound calls (``<provider>_calls.py``): the dial, the scripted callee (callee.py), the status
callbacks signed as that provider signs them, and the media stream opened on answer (outbound.py)."""

from callbridge.devkit.simulators.rest.base import (
    AccountOptions,
    ApiRequest,
    SimulatedProviderCall,
    SimulatedRestApi,
)
from callbridge.devkit.simulators.rest.callbacks import CallbackRecord
from callbridge.devkit.simulators.rest.callee import (
    CalleeBehaviour,
    CalleeRule,
    CalleeScript,
    ScriptError,
    parse_behaviour,
    parse_rule,
)
from callbridge.devkit.simulators.rest.exotel import ExotelRestApi
from callbridge.devkit.simulators.rest.outbound import OutboundCall, Outcome
from callbridge.devkit.simulators.rest.plivo import PlivoRestApi
from callbridge.devkit.simulators.rest.telnyx import TelnyxRestApi
from callbridge.devkit.simulators.rest.twilio import TwilioRestApi

__all__ = [
    "AccountOptions",
    "ApiRequest",
    "CallbackRecord",
    "CalleeBehaviour",
    "CalleeRule",
    "CalleeScript",
    "ExotelRestApi",
    "OutboundCall",
    "Outcome",
    "PlivoRestApi",
    "ScriptError",
    "SimulatedProviderCall",
    "SimulatedRestApi",
    "TelnyxRestApi",
    "TwilioRestApi",
    "parse_behaviour",
    "parse_rule",
]
