"""The command line of a service (``callbridge-webhooks``, ``callbridge-media``): ``--help`` lists the
environment variables that configure it, read from its settings class, and ``--version`` prints its version.
Everything else is configured through the environment, so there are no other options."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from importlib.metadata import version

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

__all__ = ["environment_help", "parse_service_args"]

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
