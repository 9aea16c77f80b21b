"""Prints the resampler's measured figures beside soxr VHQ's at the end of a run.

Tests record into `audio_figures`; the summary shows the worst case per measure and rate pair, so
a run documents the quality it asserted, not only that it passed.
"""

from collections import defaultdict
from dataclasses import dataclass, field

import pytest


@dataclass
class AudioFigures:
    """Worst figure per (measure, rate pair), ours and the soxr reference."""

    worst: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    counts: defaultdict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def record(
        self,
        measure: str,
        in_rate_hz: int,
        out_rate_hz: int,
        ours: float,
        soxr: float,
        *,
        higher_is_better: bool = True,
    ) -> None:
        key = (measure, f"{in_rate_hz // 1000}k→{out_rate_hz // 1000}k")
        worse = min if higher_is_better else max
        previous = self.worst.get(key, (ours, soxr))
        self.worst[key] = (worse(previous[0], ours), worse(previous[1], soxr))
        self.counts[key] += 1


_FIGURES = AudioFigures()


@pytest.fixture(scope="session")
def audio_figures() -> AudioFigures:
    return _FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FIGURES.worst:
        return
    terminalreporter.write_sep("-", "resampler figures, worst case (ours | soxr VHQ reference)")
    for (measure, pair), (ours, soxr) in sorted(_FIGURES.worst.items()):
        count = _FIGURES.counts[(measure, pair)]
        terminalreporter.write_line(
            f"{measure:<28} {pair:>8}  {ours:7.2f} | {soxr:7.2f}   ({count} signal{'s' if count > 1 else ''})"
        )
