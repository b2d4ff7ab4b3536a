"""The public Python API (backtests.api, strategies.playbook) and the engine rules it exposes: a
user's playbook runs as a built-in does, sees no later close, works in forked tuning workers; the
$1 minimum per option order, tranches of equal steps and each ATR rule's own look-back are what the
engine charges and does."""

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from test_optionbook import DATES, PUT, market

import backtests
import data
from backtests import compare, run, tune
from backtests.market import MarketSpec, prepare_market
from backtests.optionbook import OptionBook, OptionBroker
from strategies import Costs, Playbook, RiskConfig, Sizing, StopRule, TakeProfit, Target
from strategies.momentum import Momentum, MomentumParams
from strategies.signals import average_true_range


class Tilt(Playbook):
    symbols = ("SPY", "QQQ")

    def target(self, view):
        if view.close["QQQ"] > view.history("QQQ", 50).mean():
            return Target({"QQQ": 0.6, "SPY": 0.4})
        return Target({"SPY": 1.0})


class Recorder(Playbook):
    """Holds the index and keeps what history() showed at each close."""

    symbols = ("SPY",)

    def __init__(self):
        super().__init__()
        self.seen = []

    def target(self, view):
        self.seen.append((view.date, view.history("SPY", 5)))
        return Target({"SPY": 1.0})


class Thirty(Playbook):
    symbols = ("SPY",)

    def target(self, view):
        return Target({"SPY": 0.3})


def test_public_names_import_from_the_packages():
    assert {"prepare_market", "run", "compare", "tune"} <= set(dir(backtests))
    assert callable(compare) and callable(tune)


def test_a_users_playbook_runs_and_reports_the_cli_figures(recent_market, tmp_path):
    result = run(Tilt(), recent_market)
    assert result.strategy == "tilt" and result.returns.index.equals(recent_market.sessions)
    assert set(result.trades["instrument"]) == {"SPY", "QQQ"}
    assert {"cagr", "sharpe", "max_drawdown"} <= set(result.metrics)
    equity = result.equity
    assert result.metrics["cagr"] == pytest.approx(
        (equity.iloc[-1] / 1_000_000.0) ** (252 / len(equity)) - 1, rel=0.05)
    out = result.save(tmp_path / "tilt")
    import json

    record = json.loads((out / "run.json").read_text())
    assert record["settings"]["strategy"] == "tilt"
    assert record["settings"]["playbook"].endswith("Tilt")
    assert record["metrics"]["sharpe"] == pytest.approx(result.metrics["sharpe"])


def test_history_ends_at_the_close_of_the_decision(recent_market):
    recorder = Recorder()
    run(recorder, recent_market)
    close = recent_market.bars["SPY"]["close"]
    for date, history in recorder.seen[::97]:
        assert history.index[-1] == date
        expected = close.loc[:date].iloc[-5:]
        assert history.index.equals(expected.index)
        np.testing.assert_array_equal(history.to_numpy(), expected.to_numpy())
    assert len(recorder.seen[0][1]) == 1  # the first close has no earlier one


def test_a_built_in_by_instance_is_the_built_in_by_name(recent_market):
    by_name = run("momentum", recent_market, params=MomentumParams(tilt_weight=0.5, core_weight=0.5))
    by_instance = run(Momentum(MomentumParams(tilt_weight=0.5, core_weight=0.5)), recent_market)
    pd.testing.assert_series_equal(by_name.returns.rename(None), by_instance.returns.rename(None))


def test_a_symbol_the_market_does_not_hold_is_refused(recent_market):
    class Orcl(Playbook):
        symbols = ("SPY", "ORCL")

        def target(self, view):
            return Target({"ORCL": 1.0})

    with pytest.raises(Exception, match="ORCL"):
        run(Orcl(), recent_market)


def test_tranches_move_in_equal_steps_toward_the_target(recent_market):
    result = run(Thirty(), recent_market, sizing=Sizing("fixed-fraction", 1.0, tranches=3), risk=RiskConfig(),
                 thin_liquidity_scale=1.0)
    weight = (result.positions["SPY"] / result.equity).to_numpy()
    # decided at closes 0, 1, 2; filled at the opens of sessions 1, 2, 3; seen at their closes
    assert weight[0] == 0.0
    np.testing.assert_allclose(weight[1:4], [0.1, 0.2, 0.3], atol=0.01)
    assert len(result.orders[result.orders["instrument"] == "SPY"].iloc[:3]) == 3


def test_each_atr_rule_reads_its_own_look_back():
    spec = MarketSpec(start="2012-01-03", end="2014-12-31", cash_rate=0.02, atr_sessions=20,
                      atr_windows=(10,))
    m = prepare_market(spec)
    risk = RiskConfig(stops=(StopRule("atr", 2, atr_sessions=20),),
                      take_profit=TakeProfit("atr", 3, atr_sessions=10))
    result = run("momentum", m, risk=risk)
    takes = result.trades[result.trades["exit_reason"] == "take-profit"]
    assert len(takes)
    checked = 0
    for _, t in takes.iterrows():
        bars = m.bars[t["instrument"]]
        decision = bars.index.get_loc(t["entry_date"]) - 1
        # independently: Wilder's ATR(10) on the whole loaded series, at the entry decision's close
        whole = data.load([t["instrument"]], None, "2014-12-31", source="embedded")[t["instrument"]]
        atr10 = average_true_range(whole, 10).loc[bars.index[decision]]
        assert bars["atr_10"].iloc[decision] == pytest.approx(atr10, rel=1e-12)
        level = t["entry_price"] + 3 * atr10
        if abs(t["exit_price"] - level) < 1e-6 * level:
            checked += 1
        assert abs(t["exit_price"] - (t["entry_price"] + 3 * bars["atr"].iloc[decision])) > 1e-9
    assert checked >= 1  # at least one filled at its level (the others gapped through it at the open)


def test_an_atr_look_back_the_market_lacks_is_refused(recent_market):
    with pytest.raises(Exception, match=r"ATR\(30\)"):
        run("momentum", recent_market, risk=RiskConfig(stops=(StopRule("atr", 2, atr_sessions=30),)))


class BuyOnePut(bt.Strategy):
    def next(self):
        if len(self) == 1:
            self.broker.book.submit(PUT, 1, "test")


def test_one_contract_pays_the_one_dollar_minimum():
    om = market()
    frame = pd.DataFrame({"open": om.open, "high": np.maximum(om.open, om.close),
                          "low": np.minimum(om.open, om.close), "close": om.close, "volume": 1.0},
                         index=DATES)
    cerebro = bt.Cerebro(stdstats=False)
    feed = bt.feeds.PandasData(dataname=frame, name="SPY")
    cerebro.adddata(feed)
    book = OptionBook(om, Costs().option_costs())
    broker = OptionBroker(book, feed)
    cerebro.setbroker(broker)
    broker.setcash(1_000_000.0)
    cerebro.addstrategy(BuyOnePut)
    cerebro.run()
    assert book.fills[0]["commission"] == 1.0  # 1 x $0.65 is below the $1.00 per-order minimum
    assert Costs().option_commission(10) == pytest.approx(6.5)


def test_a_users_playbook_tunes_in_forked_workers(tmp_path):
    outcome = tune(Tilt(), "trailing:4%..5%:1%", window="triple-witching", start="2010-01-04",
                   end="2016-12-30", cash_rate=0.02, jobs=2, out=str(tmp_path / "tune"), min_train_years=2,
                   progress=False)
    data = outcome.evaluation.data
    assert outcome.finished_now == 2 and list(data.trials["state"]) == ["COMPLETE", "COMPLETE"]
    assert data.definition["strategy"] == "tilt" and data.definition["playbook"].endswith("Tilt")
    # each trial is the windows-only run of Tilt under its stop, as run() gives it in this process
    from backtests.market import window_market
    from backtests.windows_eval import window_returns

    m = window_market(prepare_market(MarketSpec(window="triple-witching", start=pd.Timestamp("2010-01-04"),
                                                end=pd.Timestamp("2016-12-30"), cash_rate=0.02)))
    for number, rule in zip(data.trials["number"], data.trials["stop"]):
        level = float(rule.split(":")[1].rstrip("%")) / 100
        mine = run(Tilt(), m, risk=RiskConfig(stops=(StopRule("trailing", level),)), windows_only=True)
        np.testing.assert_array_equal(window_returns(mine.returns, m.windows).to_numpy(float),
                                      data.returns[number].to_numpy(float))


class _CashThenIndex(Playbook):
    """All in T-bills until 2016-03-01, then half the index by limit orders (the neutral book's way in)."""

    symbols = ("SPY", "BIL")

    def target(self, view):
        if view.date < pd.Timestamp("2016-03-01"):
            return Target({"BIL": 0.9})
        return Target({"SPY": 0.5}, order="limit", limit_offset=0.002, limit_sessions=2)


def test_a_sleeve_the_target_no_longer_holds_is_sold_at_the_next_open():
    """A limit order is for the target's own instruments: the T-bill sleeve it dropped is sold by a
    market order at the next open (a sell limit 0.2% above a T-bill close would never fill, and the
    sleeve stayed in the book: the regime-switching playbook's BIL after a defensive spell)."""
    market = backtests.prepare_market(start="2016-01-04", end="2016-06-30")
    result = run(_CashThenIndex(), market)
    bil = result.orders[result.orders["instrument"] == "BIL"]
    last = bil.iloc[-1]
    assert last["side"] == "sell" and last["date"] == pd.Timestamp("2016-03-02")  # the next session's open
    assert result.positions["BIL"].iloc[-1] == 0.0
    assert result.positions["SPY"].iloc[-1] > 0.4 * result.equity.iloc[-1]  # the limit buys did fill
