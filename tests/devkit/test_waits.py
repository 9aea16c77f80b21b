"""The devkit tests wait for the thing they need (a message, a mark echo, the stream's clock reaching a
frame), never for a fixed time; a sleep is allowed only where it is the simulated behaviour itself, and
says so on its line with ``# simulated:``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SLEEP = re.compile(r"\b(asyncio|time)\.sleep\(")
TESTS = sorted(Path(__file__).parent.glob("*.py"))


@pytest.mark.parametrize("path", TESTS, ids=lambda path: path.name)
def test_no_sleep_stands_in_for_waiting_on_an_event(path: Path) -> None:
    sleeps = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if SLEEP.search(line) and "# simulated:" not in line and path.name != "test_waits.py"
    ]

    assert sleeps == []
