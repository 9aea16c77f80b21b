"""What a user reads never points at things they do not have: no section numbers of private reference notes,
no paths outside the repository, no issue numbers. Checked in the README, docs/, the commands' help, the
OpenAPI document served at /docs, and the messages the provider simulators report."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from callbridge.common.service_cli import environment_help
from callbridge.devkit.cli import build_parser
from callbridge.dialer.config import DialerSettings
from callbridge.media.config import MediaSettings
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.main import create_app

ROOT = Path(__file__).resolve().parent.parent
INTERNAL = re.compile(
    r"§|\.\./shared|/work/|reference/[\w-]+\.md|\[(INFERRED|CONFLICT|DOC|OSS)\b"
    r"|\bissue (notes|#?\d+)|\blater issue\b|\bdesign notes\b|#\d{2,}"
)
SIMULATORS = ROOT / "libs/devkit/src/callbridge/devkit/simulators"


def internal_references(text: str) -> list[str]:
    return [match.group(0) for match in INTERNAL.finditer(text)]


@pytest.mark.parametrize(
    "path", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda path: path.name
)
def test_docs_point_at_nothing_a_user_does_not_have(path: Path) -> None:
    assert internal_references(path.read_text()) == []


def test_command_help_points_at_nothing_a_user_does_not_have() -> None:
    texts = [environment_help(settings) for settings in (WebhooksSettings, MediaSettings, DialerSettings)]
    pending = [build_parser()]
    while pending:
        parser = pending.pop()
        texts.append(parser.format_help())
        for action in parser._actions:
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                pending.extend(choices.values())

    assert internal_references("\n".join(texts)) == []


def test_the_served_api_reference_points_at_nothing_a_user_does_not_have() -> None:
    spec = str(create_app(WebhooksSettings()).openapi())

    assert internal_references(spec) == []


def user_facing_strings(path: Path) -> list[str]:
    """String literals in ``path`` other than docstrings (a string standing alone as a statement, which
    only a reader of the code sees): messages, violation reasons, answers."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.parametrize(
    "path", sorted(SIMULATORS.rglob("*.py")), ids=lambda path: str(path.relative_to(SIMULATORS))
)
def test_simulator_messages_point_at_nothing_a_user_does_not_have(path: Path) -> None:
    assert internal_references("\n".join(user_facing_strings(path))) == []
