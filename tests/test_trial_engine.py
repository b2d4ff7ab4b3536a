"""The trial engine gives backtrader's daily returns to the last bit (backtests.trial_engine).

Every built-in playbook runs through `backtests.runner.run_backtest` (backtrader's Cerebro, the
reference) and `backtests.trial_engine.trial_returns` under rules that exercise each order path the
engine ports: market entries and exits, limit entries (neutral), stop orders that fill at their
level or at a gapped open, take-profit limits in one-cancels-other pairs, ATR and time stops,
tranches, a portfolio stop with its cooldown, vol-target sizing, slippage on and off, buys refused
for want of cash ("Margin") and option hedges with their fills, settlement and marks. Returns are
compared as int64 bit patterns, so a difference of one ulp (or of the sign of a zero) fails.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from backtests import jobs
from backtests.market import MarketSpec, prepare_market, window_market
from backtests.runner import RunSettings, run_backtest
from backtests.trial_engine import trial_returns
from backtests.tuning import SearchSpace, check_engine
from strategies.errors import ConfigError
from strategies.risk import Costs

START, END, CASH_RATE = "2007-01-01", "2012-12-31", 0.0216

RULES = {
    "defaults": {},
    "trailing 1%": {"stop": ["trailing:1%"]},
    "fixed 2% + take-profit 3%": {"stop": ["fixed:2%"], "take_profit": "3%"},
    "atr stop + atr take-profit": {"stop": ["atr:2,sessions:20"], "take_profit": "atr:3"},
    "time stop + trailing, 3 tranches": {"stop": ["time:4", "trailing:3%"], "tranches": 3},
    "portfolio stop, vol-target": {"portfolio_stop": "4%,cooldown:3", "size": "vol-target:15%,lookback:20"},
}
STRATEGIES = ("momentum", "neutral", "defensive", "playbook")


def _bits(series: pd.Series) -> np.ndarray:
    return series.to_numpy(float).view(np.int64)


def assert_same_returns(run: RunSettings, market) -> None:
    reference = run_backtest(run, market).returns
    fast = trial_returns(run, market)
    assert fast.index.equals(reference.index)
    differ = np.flatnonzero(_bits(fast) != _bits(reference))
    assert differ.size == 0, (f"{differ.size} sessions differ, first {reference.index[differ[0]]:%Y-%m-%d}: "
                              f"{fast.iloc[differ[0]]!r} vs backtrader {reference.iloc[differ[0]]!r}")


def settings_for(strategy: str, window: str, rules: dict) -> dict:
    return {"strategy": strategy, "window": window, "start": START, "end": END, "cash_rate": CASH_RATE,
            **rules}


@pytest.fixture(scope="module")
def markets():
    """The same span prepared once as a full market and stepped through year-end windows; ATR(20)
    for the ATR stop's own look-back."""
    full = prepare_market(MarketSpec(start=pd.Timestamp(START), end=pd.Timestamp(END), cash_rate=CASH_RATE,
                                     atr_windows=(20,), vol_sessions=20))
    windows = prepare_market(MarketSpec(start=pd.Timestamp(START), end=pd.Timestamp(END), cash_rate=CASH_RATE,
                                        window="year-end", atr_windows=(20,), vol_sessions=20))
    return {"full": full, "year-end": window_market(windows)}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("rule", list(RULES))
def test_every_playbook_and_rule_on_the_full_span(markets, strategy, rule):
    assert_same_returns(jobs.run_settings(settings_for(strategy, "full", RULES[rule])), markets["full"])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("rule", ["defaults", "trailing 1%", "fixed 2% + take-profit 3%"])
def test_every_playbook_on_a_stepped_windows_market(markets, strategy, rule):
    run = jobs.run_settings(settings_for(strategy, "year-end", RULES[rule]))
    assert_same_returns(run, markets["year-end"])


@pytest.mark.parametrize("strategy", ["momentum", "neutral"])
def test_without_slippage_and_with_buys_refused_for_cash(markets, strategy):
    """No slippage, no cash buffer and little cash: fills at the open's own price, and buys sized at
    a close that the next open makes unaffordable are refused as backtrader refuses them."""
    run = jobs.run_settings(settings_for(strategy, "full", {"stop": ["trailing:2%"]}))
    costs = dataclasses.replace(run.risk.costs, slippage_bp=0.0)
    bare = dataclasses.replace(run, risk=dataclasses.replace(run.risk, costs=costs), cash_buffer=0.0,
                               cash=25_000.0)
    assert_same_returns(bare, markets["full"])


def test_a_users_playbook_runs_on_the_trial_engine(markets):
    from strategies import Playbook, Target

    class HalfIndexOnMomentum(Playbook):
        symbols = ("SPY", "QQQ")
        signals = ("p_momentum",)

        def target(self, view):
            if view.signal("p_momentum", 0.0) > 0.5:
                return Target({"SPY": 0.5, "QQQ": 0.3})
            return Target({"SPY": 0.2})

    run = RunSettings(HalfIndexOnMomentum(), windows_only=False)
    run = dataclasses.replace(run.resolved(), risk=dataclasses.replace(
        run.resolved().risk, costs=Costs(slippage_bp=5.0)))
    assert_same_returns(run, markets["full"])


def test_the_benchmark_is_left_to_backtrader(markets):
    with pytest.raises(ConfigError, match="benchmark runs on backtrader"):
        trial_returns(RunSettings("benchmark"), markets["full"])


def test_a_study_checks_its_first_cell_on_both_engines(markets, monkeypatch):
    settings = settings_for("neutral", "year-end", {})
    space = SearchSpace.parse("trailing:1%..3%:1%")
    check = check_engine(markets["year-end"], settings, space)
    assert (check.engine, check.identical, check.rule) == ("trial", True, "trailing:1%")
    assert "equal backtrader's to the bit" in check.text()

    # an engine that moved one session's return by 1e-12 is caught, and the study falls back
    import backtests.tuning as tuning

    real = tuning.trial_returns

    def slightly_off(run, market):
        returns = real(run, market).copy()
        returns[returns.index[returns != 0][-1]] += 1e-12
        return returns

    monkeypatch.setattr(tuning, "trial_returns", slightly_off)
    check = check_engine(markets["year-end"], settings, space)
    assert (check.engine, check.identical) == ("backtrader", False)
    assert check.text().startswith("warning: the trial engine's window returns for trailing:1% differ")


def test_a_study_stores_the_same_returns_on_either_engine(tmp_path):
    """`cli.py tune --engine backtrader` and the default give the same study, cell for cell."""
    from backtests.trial_engine import ENGINES
    from backtests.tuning import TuneRequest, tune
    from backtests.tuning_report import format_summary, write_reports

    outcomes = {engine: tune(TuneRequest("momentum", "trailing:1%..4%:1%", take_profit="4%..8%:4%",
                                         window="year-end", start=pd.Timestamp(START), end=pd.Timestamp(END),
                                         cash_rate=CASH_RATE, out=str(tmp_path / engine), progress=False,
                                         engine=engine))
                for engine in ENGINES}
    trial, reference = (outcomes[e].evaluation.data for e in ENGINES)
    assert trial.returns.shape == (6, 8)
    assert np.array_equal(trial.returns.to_numpy().view(np.int64),
                          reference.returns.to_numpy().view(np.int64))
    assert outcomes["trial"].evaluation.best_trial == outcomes["backtrader"].evaluation.best_trial
    summary = {e: format_summary(o, write_reports(o)) for e, o in outcomes.items()}
    assert "engine: trials run on the trial engine; its window returns for trailing:1% take-profit:4% " \
           "equal backtrader's to the bit" in summary["trial"]
    assert "engine: every trial runs on backtrader (--engine backtrader)" in summary["backtrader"]


def test_feeds_on_different_sessions_are_left_to_backtrader(markets):
    """backtrader aligns feeds by date, the trial engine steps them by bar: a market whose frames
    are not all on its sessions is refused (and a study then runs on backtrader)."""
    market = markets["full"]
    bars = dict(market.bars)
    bars["QQQ"] = bars["QQQ"].iloc[:-5]
    with pytest.raises(ConfigError, match="every feed on the same sessions"):
        trial_returns(jobs.run_settings(settings_for("momentum", "full", {})),
                      dataclasses.replace(market, bars=bars))


def test_the_engine_check_runs_here_without_fork_and_names_a_failed_reference(markets, monkeypatch):
    import multiprocessing

    import backtests.tuning as tuning
    from backtests.errors import RunError

    settings = settings_for("neutral", "year-end", {})
    space = SearchSpace.parse("trailing:1%..3%:1%")
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    assert check_engine(markets["year-end"], settings, space).identical  # in this process

    monkeypatch.undo()

    def broken(run, market):
        raise ValueError("no bars")

    monkeypatch.setattr(tuning, "run_backtest", broken)  # the forked reference run inherits it
    with pytest.raises(RunError, match=r"engine check's backtrader run of trailing:1% failed: "
                                       r"ValueError: no bars"):
        check_engine(markets["year-end"], settings, space)
