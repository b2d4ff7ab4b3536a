"""The tuning path's window returns are bit-identical to those of the code before the speed work.

tests/fixtures/tuning_reference_returns.json holds, as exact float hex, the per-window returns that
`backtests.tuning.evaluate_rule` gave at commit 145d4b4 (before issue 15's hot-path changes) for a
few grids: neutral with trailing stops on triple-witching windows, momentum with trailing stops and
take-profits on year-end windows, and the playbook strategy with fixed stops, each with its
default rule, 1999-2018 at a 2.16% cash rate where no T-bill rate is published. A speed-up that
moves any return by one ulp fails here (np.array_equal, not approx).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backtests.market import MarketSpec, prepare_market, window_market
from backtests.tuning import SearchSpace, evaluate_rule

REFERENCE = Path(__file__).parent / "fixtures" / "tuning_reference_returns.json"
START, END, CASH_RATE = "1999-01-01", "2018-12-31", 0.0216
CASES = [("neutral", "trailing:1%..10%:3%", None, "triple-witching"),
         ("momentum", "trailing:2%..6%:4%", "4%..8%:4%", "year-end"),
         ("playbook", "fixed:3%..5%:2%", None, "triple-witching")]


@pytest.mark.parametrize("strategy, stop, take_profit, window", CASES)
def test_trial_returns_are_bit_identical_to_the_reference(strategy, stop, take_profit, window):
    stored = json.loads(REFERENCE.read_text())[f"{strategy} {window} {stop} {take_profit}"]
    market = window_market(prepare_market(MarketSpec(start=START, end=END, window=window,
                                                     cash_rate=CASH_RATE)))
    space = SearchSpace.parse(stop, take_profit)
    settings = {"strategy": strategy, "window": window, "start": START, "end": END, "cash_rate": CASH_RATE}
    rules = {"default": None}
    for s in space.stop_levels:
        for t in space.take_profit_levels or (None,):
            params = {"stop_level": s} | ({} if t is None else {"take_profit_level": t})
            rules[space.rule_text(params)] = space.rules(params)
    assert set(rules) == set(stored)
    for text, rule in rules.items():
        got = evaluate_rule(market, settings, rule)
        want = np.array([float.fromhex(x) for x in stored[text]])
        assert np.array_equal(got, want), f"{strategy} {text}: window returns moved"
        assert len(want) == len(market.windows) and np.isfinite(want).all()
