"""Errors raised by the provider simulators."""

from __future__ import annotations


class SimulatorError(Exception):
    """A simulated call could not go on."""


class WebhookRejectedError(SimulatorError):
    """The incoming-call webhook answered with a status other than 200."""

    def __init__(self, url: str, status_code: int, body: str) -> None:
        super().__init__(f"webhook {url} answered HTTP {status_code}: {body[:500]!r}")
        self.url = url
        self.status_code = status_code
        self.body = body


class WebhookUnreachableError(SimulatorError):
    """The incoming-call webhook could not be reached or did not answer in time."""


class AnswerError(SimulatorError):
    """The webhook's answer (TeXML, Plivo XML, Exotel JSON) is one the provider or simulator cannot run."""


class TwiMLError(AnswerError):
    """The webhook's TwiML is not a document the simulator (or Twilio) can run."""


class StreamConnectError(SimulatorError):
    """The media-stream WebSocket could not be opened."""
