"""Errors the ``callbridge`` command reports as one line (``callbridge: error: …``) and exit status 2.

Each says what is wrong and what to do about it. Errors of the libraries underneath (sockets, nats-py,
settings validation, the simulators) are translated into these where they are raised, so ``main()``
catches one type; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno

__all__ = [
    "CliError",
    "ConfigurationError",
    "DataDirError",
    "NatsUnavailableError",
    "PortInUseError",
    "SimulatedCallError",
    "UsageError",
    "port_error",
]


class CliError(Exception):
    """Something the user can fix; the message says what."""


class UsageError(CliError):
    """Options that do not fit together, or a value (a file, a key) that cannot be used."""


class ConfigurationError(CliError):
    """Settings the services refuse, such as production with a development secret."""


class PortInUseError(CliError):
    """A port the stack should listen on is taken."""


class NatsUnavailableError(CliError):
    """NATS cannot be reached, or has no JetStream."""


class DataDirError(CliError):
    """The data directory cannot be used: another ``callbridge up`` holds it, or it is not writable."""


class SimulatedCallError(CliError):
    """A simulated call could not be placed or carried through."""


def port_error(exc: OSError, host: str, port: int, option: str) -> CliError:
    """``exc`` from binding ``host:port``, as the error a user can act on."""
    if exc.errno == errno.EADDRINUSE:
        return PortInUseError(
            f"port {port} on {host} is in use ({option}): stop what listens there, or pass {option} "
            "with another port"
        )
    return UsageError(f"cannot listen on {host}:{port} ({option}): {exc.strerror or exc}")
