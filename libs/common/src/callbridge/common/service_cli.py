"""The command line of a service (``callbridge-webhooks``, ``callbridge-media``): ``--help`` lists the
environment variables that configure it, read from its settings class, and ``--version`` prints its version.
Everything else is configured through the environment, so there are no other options."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from importlib.metadata import version
from typing import TypeVar

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from callbridge.common.settings import InsecureSettingsError

__all__ = ["environment_help", "load_settings", "parse_service_args", "settings_problem"]

SETTINGS_ERROR_STATUS = 2
S = TypeVar("S", bound=BaseSettings)

_WIDTH = 100


def parse_service_args(
    prog: str, summary: str, settings: type[BaseSettings], argv: Sequence[str] | None = None
) -> None:
    """Handle ``--help`` and ``--version`` (both exit); refuse any other argument."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"{summary} Configured by environment variables only.",
        epilog=environment_help(settings),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{prog} {version(prog)}")
    parser.parse_args(argv)


def settings_problem(exc: Exception) -> str | None:
    """What refused settings say, in one line (None: not a settings error)."""
    if isinstance(exc, InsecureSettingsError):
        return str(exc)
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        return f"{where}: {first['msg']}"
    return None


def load_settings(prog: str, settings: type[S]) -> S:
    """The service's settings from the environment; refused ones end the process with one line on stderr
    (``<prog>: error: ...``, status 2) instead of a traceback."""
    try:
        return settings()
    except (InsecureSettingsError, ValidationError) as exc:
        print(f"{prog}: error: {settings_problem(exc)}", file=sys.stderr)
        raise SystemExit(SETTINGS_ERROR_STATUS) from None


def environment_help(settings: type[BaseSettings]) -> str:
    """Every variable of ``settings`` with its default and description; secret defaults are not shown."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    lines = ["environment variables:"]
    for name, field in settings.model_fields.items():
        lines.append(f"  {(prefix + name).upper()}  (default: {_default(field)})")
        if field.description:
            lines.extend(
                textwrap.wrap(field.description, _WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 6)
            )
    return "\n".join(lines)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "generated"
    if isinstance(field.default, SecretStr):
        return "a development value" if field.default.get_secret_value() else "none"
    if field.default is None:
        return "unset"
    return str(getattr(field.default, "value", field.default))
