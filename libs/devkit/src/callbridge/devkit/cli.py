"""The ``callbridge`` command: ``callbridge up`` runs the local stack, ``callbridge sim call`` places a
simulated provider call against any callbridge deployment.

Exit status: 0 when it worked; 1 when ``sim call`` completed but the server broke the provider's protocol;
2 for an error, printed as one line ``callbridge: error: …`` (as argparse does for a bad option); 130 when
Ctrl-C interrupted ``sim call``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version

from callbridge.common.logs import configure_logging
from callbridge.devkit.errors import CliError
from callbridge.devkit.simulate import add_sim_parser
from callbridge.devkit.up import add_up_parser

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
PROG = "callbridge"

DASH_VALUE_OPTIONS = frozenset({"--webhook-secret", "--auth-token", "--api-key", "--secret-key"})
"""Options whose value is a secret that may start with '-' (URL-safe base64 can), which argparse would take
for an option: ``--webhook-secret -abc`` is read as ``--webhook-secret=-abc``."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {version('callbridge-devkit')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{up,sim}")
    add_up_parser(commands)
    add_sim_parser(commands)
    return parser


def join_dash_values(argv: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    """``argv`` with each secret option and a following value that starts with '-' joined by '='; a
    following token that is itself an option stays apart, so a missing value is still reported."""
    options = _option_strings(parser)
    joined: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else None
        if (
            token in DASH_VALUE_OPTIONS
            and following is not None
            and following.startswith("-")
            and following.split("=", 1)[0] not in options
        ):
            joined.append(f"{token}={following}")
            index += 2
            continue
        joined.append(token)
        index += 1
    return joined


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                found |= _option_strings(subparser)
    return found


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = build_parser()
    return parser.parse_args(join_dash_values(argv, parser))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(getattr(args, "log_level", "WARNING"), "text", service=PROG)
    try:
        code: int = args.run(args)
    except CliError as exc:
        message = " ".join(str(exc).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
