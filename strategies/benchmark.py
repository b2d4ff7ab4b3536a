"""The index as benchmark: buy and hold, no stops, no hedges."""

from __future__ import annotations

from dataclasses import dataclass

from strategies.base import PlaybookStrategy
from strategies.targets import SessionView, Target


@dataclass(frozen=True)
class BenchmarkParams:
    symbol: str = "SPY"


class Benchmark(PlaybookStrategy):
    """Buy the index with all equity at the first open and hold it. The run drops every risk rule
    and cost so its returns are the index's own (checked against pandas to 1e-9)."""

    def target(self, view: SessionView) -> Target:
        return Target({self.setup.params.symbol: 1.0}, label="benchmark")
