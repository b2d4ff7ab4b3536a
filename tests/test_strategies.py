"""Every strategy on the embedded data: it trades, it pays its costs, its options are in the
portfolio's value, the benchmark is the index itself, the neutral hedge keeps its band, and no
decision uses a later session."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from rates import NOVEMBER_2018_CASH_RATE

from backtests.market import MarketSpec, build_market
from backtests.runner import RunSettings, run_backtest
from data.macro import load_macro
from strategies.contracts import ContractSpec, OptionContract
from strategies.neutral import NeutralParams
from strategies.registry import STRATEGIES

PLAYBOOKS = ("momentum", "neutral", "defensive", "playbook")


@pytest.fixture(scope="module")
def runs(embedded_market):
    return {name: run_backtest(RunSettings(name), embedded_market) for name in STRATEGIES}


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_each_playbook_trades_and_pays_its_costs(runs, name):
    result = runs[name]
    assert len(result.trades) > 10
    assert result.costs["commission"] > 0
    filled = result.orders[result.orders["quantity"] > 0]
    assert result.costs["commission"] + result.costs["option_spread"] == pytest.approx(
        filled["commission"].sum() + filled.loc[filled["kind"] == "option", "slippage"].sum())
    assert result.costs["slippage"] == pytest.approx(filled.loc[filled["kind"] == "stock", "slippage"].sum())


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_equity_is_cash_plus_positions_plus_options(runs, name):
    result = runs[name]
    parts = result.positions.drop(columns=["options_delta"], errors="ignore").sum(axis=1)
    np.testing.assert_allclose(parts.to_numpy(), result.equity.to_numpy(), rtol=1e-9)
    # the analyzer's returns are the equity curve's own
    growth = (1 + result.returns).cumprod() * 1_000_000.0
    np.testing.assert_allclose(growth.to_numpy(), result.equity.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("name", ["neutral", "defensive", "playbook"])
def test_option_legs_are_valued_in_the_portfolio(runs, embedded_market, name):
    """The options column is the contracts held, marked at the engine's mid at each close, and
    every option fill carries its strike, expiry, implied vol and greeks."""
    result, market = runs[name], embedded_market
    assert (result.positions["options"].abs() > 0).mean() > (0.2 if name == "playbook" else 0.5)
    fills = result.orders[(result.orders["kind"] == "option") & (result.orders["quantity"] > 0)].copy()
    traded = fills[fills["reason"] != "expiry"]
    greeks = ["strike", "expiry", "implied_vol", "delta", "gamma", "vega", "theta"]
    assert traded[greeks].notna().all().all()
    fills["signed"] = np.where(fills["side"] == "buy", 1.0, -1.0) * fills["quantity"]
    fills["contract"] = [OptionContract(k, s, e, ContractSpec())
                         for k, s, e in zip(fills["option_type"], fills["strike"], fills["expiry"])]
    held = fills.groupby(["date", "contract"])["signed"].sum().unstack(fill_value=0.0).cumsum()
    held = held.reindex(market.sessions).ffill().fillna(0.0)
    for i in range(300, len(market.sessions), 397):
        expected = sum(q * market.options.quote(c, i, "close").mid * 100
                       for c, q in held.iloc[i].items() if q)
        assert result.positions["options"].iloc[i] == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_benchmark_equals_pandas_buy_and_hold(runs, embedded_market):
    close = embedded_market.bars["SPY"]["close"]
    expected = close.pct_change().fillna(0.0)
    np.testing.assert_allclose(runs["benchmark"].returns.to_numpy(), expected.to_numpy(), atol=1e-9)
    total = (1 + runs["benchmark"].returns).prod()
    assert total == pytest.approx(close.iloc[-1] / close.iloc[0], rel=1e-9)


def test_neutral_net_delta_is_inside_its_band_after_each_rehedge(runs, embedded_market):
    """Recompute, for every hedge decision, the net delta the new option position gives at the
    decision's close, from the fills and the engine's quotes: it must be within the band (plus one
    contract's worth of rounding)."""
    result, market = runs["neutral"], embedded_market
    band = NeutralParams().band
    orders = result.orders[(result.orders["kind"] == "option") & (result.orders["quantity"] > 0)].copy()
    orders["signed"] = np.where(orders["side"] == "buy", 1.0, -1.0) * orders["quantity"]
    orders["contract"] = [OptionContract(k, s, e, ContractSpec())
                          for k, s, e in zip(orders["option_type"], orders["strike"], orders["expiry"])]
    held = orders.groupby(["date", "contract"])["signed"].sum().unstack(fill_value=0.0).cumsum()
    decisions = sorted(set(orders.loc[orders["reason"].isin(["hedge", "hedge-open"]), "date"]))
    sessions = market.sessions
    checked = 0
    for fill_day in decisions:
        i = sessions.get_loc(fill_day) - 1  # decided at the previous close
        decided = sessions[i]
        after = held.loc[fill_day]
        equity = result.equity.iloc[i]
        stocks = result.positions["SPY"].iloc[i]
        units = 100 * market.options.close[i] * 0.1  # index units per contract x option spot
        live = [(c, q) for c, q in after.items() if q and c.expiry > sessions[i + 1]]
        options = sum(q * market.options.quote(c, i, "close").delta * units for c, q in live)
        per_contract = max(abs(market.options.quote(c, i, "close").delta) * units for c, _ in live)
        limit = band + per_contract / equity + 1e-9
        assert abs((stocks + options) / equity) <= limit, decided
        checked += 1
    assert checked > 100


def _perturbed(frames, after, factor):
    out = {}
    for symbol, frame in frames.items():
        frame = frame.copy()
        later = frame.index > after
        cols = [c for c in ("open", "high", "low", "close", "adj_close") if c in frame]
        frame.loc[later, cols] = frame.loc[later, cols] * factor
        out[symbol] = frame
    return out


@pytest.mark.parametrize("name", ["neutral", "playbook"])
def test_nothing_trades_on_a_later_session(name):
    """Rebuild the market with every price after T changed: every order decided up to T (filled up
    to T's next session) and the equity up to T stay exactly the same."""
    import data

    spec = MarketSpec(start="2014-01-02", end="2018-12-31", cash_rate=NOVEMBER_2018_CASH_RATE)
    symbols = ["SPY", "QQQ", "XLE", "XLP", "XLF", "BIL", "^VIX"]
    frames = data.load(symbols, spec.start, spec.end)
    sessions = frames["SPY"].index
    long_yield = load_macro("long_yield", sessions)
    tbill = load_macro("tbill_rate", sessions)
    cut = pd.Timestamp("2016-06-15")
    next_session = sessions[sessions.searchsorted(cut, side="right")]
    base = run_backtest(RunSettings(name), build_market(spec, frames, long_yield, tbill))
    moved_yield = long_yield.where(long_yield.index <= cut, long_yield + 1.0)
    moved_market = build_market(spec, _perturbed(frames, cut, 1.3), moved_yield, tbill)
    moved = run_backtest(RunSettings(name), moved_market)
    key = ["date", "instrument", "side", "quantity"]
    before = base.orders[base.orders["date"] <= next_session][key].reset_index(drop=True)
    after = moved.orders[moved.orders["date"] <= next_session][key].reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    priced = base.orders["date"] <= cut
    pd.testing.assert_series_equal(base.orders.loc[priced, "price"], moved.orders.loc[priced, "price"])
    pd.testing.assert_series_equal(base.equity[:cut], moved.equity[:cut])
    assert not base.equity.equals(moved.equity)  # the perturbation did reach the run


def test_thin_liquidity_scale_and_gross_are_applied(embedded_market):
    quiet = dataclasses.replace(RunSettings("neutral"), thin_liquidity_scale=1.0)
    result = run_backtest(quiet, embedded_market)
    weight = result.positions["SPY"] / result.equity
    held = weight[weight > 0]
    assert held.median() == pytest.approx(NeutralParams().gross, abs=0.03)
