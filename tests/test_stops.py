"""Stops and take-profits fire at the right price on hand-built series.

One instrument (SPY) held through the 2017 year-end window only: bought at the open of 2017-12-18
(decided at the close of 12-15), with no costs, so every exit price can be worked out by hand.
"""

import pandas as pd
import pytest

from backtests.market import MarketSpec, build_market
from backtests.runner import RunSettings, run_backtest
from data.calendar import nyse_sessions
from strategies.risk import Costs, PortfolioStop, RiskConfig, StopRule, TakeProfit
from strategies.signals import average_true_range

FREE = Costs(commission_per_share=0.0, min_commission=0.0, slippage_bp=0.0)
SESSIONS = nyse_sessions("2017-09-01", "2017-12-29")


def spy(rows: dict) -> pd.DataFrame:
    """Opens at 100 and closes at 100.01 (high 100.5, low 99.5), so every open is a real print (an
    open equal to the previous close would be stale), except the rows given as
    date -> (open, high, low, close)."""
    frame = pd.DataFrame({"open": 100.0, "high": 100.5, "low": 99.5, "close": 100.01}, index=SESSIONS)
    for day, values in rows.items():
        frame.loc[pd.Timestamp(day), ["open", "high", "low", "close"]] = values
    frame["adj_close"] = frame["close"]
    frame["volume"] = 1e6
    frame.index.name = "date"
    return frame


def first_trade(rows, risk):
    market = build_market(MarketSpec(window="year-end"), {"SPY": spy(rows)})
    settings = RunSettings("momentum", risk=risk, windows_only=True, thin_liquidity_scale=1.0)
    result = run_backtest(settings, market)
    entry = result.orders.iloc[0]
    assert (entry["date"], entry["side"], entry["price"]) == (pd.Timestamp("2017-12-18"), "buy", 100.0)
    return result.trades.iloc[0], result.orders


def test_fixed_stop_fills_at_its_level():
    trade, _ = first_trade({"2017-12-21": (99.5, 99.8, 96.0, 96.5)}, RiskConfig((StopRule("fixed", 0.03),),
                                                                                  costs=FREE))
    assert (trade["exit_date"], trade["exit_price"], trade["exit_reason"]) == (
        pd.Timestamp("2017-12-21"), 97.0, "stop-fixed")


def test_fixed_stop_gapped_through_fills_at_the_open():
    trade, _ = first_trade({"2017-12-21": (96.5, 97.0, 95.0, 96.0)}, RiskConfig((StopRule("fixed", 0.03),),
                                                                                  costs=FREE))
    assert (trade["exit_price"], trade["exit_reason"]) == (96.5, "stop-fixed")


def test_trailing_stop_trails_the_highest_close():
    rows = {"2017-12-18": (100.0, 102.5, 99.8, 102.0), "2017-12-19": (102.0, 105.5, 101.8, 105.0),
            "2017-12-20": (104.0, 104.2, 101.0, 101.5)}
    trade, _ = first_trade(rows, RiskConfig((StopRule("trailing", 0.03),), costs=FREE))
    assert trade["exit_date"] == pd.Timestamp("2017-12-20")
    assert trade["exit_price"] == pytest.approx(105.0 * 0.97, abs=1e-9)
    assert trade["exit_reason"] == "stop-trailing"


def test_atr_stop_uses_the_atr_known_at_the_entry_decision():
    rows = {"2017-12-21": (99.5, 99.8, 90.0, 92.0)}
    atr = average_true_range(spy(rows), 14).loc["2017-12-15"]
    trade, _ = first_trade(rows, RiskConfig((StopRule("atr", 2.0),), costs=FREE))
    assert trade["exit_price"] == pytest.approx(100.0 - 2.0 * atr, abs=1e-9)
    assert trade["exit_reason"] == "stop-atr"


def test_time_stop_sells_at_the_open_n_sessions_after_entry():
    rows = {"2017-12-21": (101.0, 101.5, 100.5, 101.0)}
    trade, _ = first_trade(rows, RiskConfig((StopRule("time", 3),), costs=FREE))
    assert (trade["exit_date"], trade["exit_price"], trade["exit_reason"]) == (
        pd.Timestamp("2017-12-21"), 101.0, "stop-time")


def test_take_profit_fills_at_its_limit_or_a_better_open():
    at_limit = {"2017-12-19": (101.0, 105.5, 100.8, 104.0)}
    trade, _ = first_trade(at_limit, RiskConfig(take_profit=TakeProfit("percent", 0.05), costs=FREE))
    assert (trade["exit_date"], trade["exit_price"], trade["exit_reason"]) == (
        pd.Timestamp("2017-12-19"), 105.0, "take-profit")
    gap = {"2017-12-19": (106.0, 106.5, 105.8, 106.2)}
    trade, _ = first_trade(gap, RiskConfig(take_profit=TakeProfit("percent", 0.05), costs=FREE))
    assert trade["exit_price"] == pytest.approx(106.0, abs=1e-9)


def test_stop_and_take_profit_cancel_each_other():
    rows = {"2017-12-19": (101.0, 105.5, 100.8, 104.0), "2017-12-20": (99.0, 99.5, 90.0, 95.0)}
    trade, orders = first_trade(rows, RiskConfig((StopRule("fixed", 0.03),), TakeProfit("percent", 0.05),
                                                 costs=FREE))
    assert trade["exit_reason"] == "take-profit"
    sells = orders[(orders["side"] == "sell") & (orders["date"] <= "2017-12-20")]
    assert len(sells) == 1  # the stop was cancelled when the take-profit filled


def test_portfolio_stop_flattens_at_the_next_open():
    rows = {"2017-12-19": (99.0, 99.2, 89.0, 89.5), "2017-12-20": (90.0, 90.5, 89.5, 90.0)}
    _, orders = first_trade(rows, RiskConfig(portfolio_stop=PortfolioStop(0.08), costs=FREE))
    exit_ = orders[orders["side"] == "sell"].iloc[0]
    assert (exit_["date"], exit_["price"], exit_["reason"]) == (pd.Timestamp("2017-12-20"), 90.0,
                                                                 "stop-portfolio")


# --- sessions without a real open (a stale open: open == previous close) --------------------------


def test_entry_on_a_stale_open_fills_at_that_sessions_close():
    """Decided at the close of 12-15 (100.01); 12-18 opens at exactly that close, so its open is not a
    real print: the buy fills at 12-18's close, never at the decision close."""
    rows = {"2017-12-18": (100.01, 101.0, 99.0, 100.7)}
    market = build_market(MarketSpec(window="year-end"), {"SPY": spy(rows)})
    assert not market.bars["SPY"].loc["2017-12-18", "real_open"]
    settings = RunSettings("momentum", risk=RiskConfig(costs=FREE), windows_only=True,
                           thin_liquidity_scale=1.0)
    entry = run_backtest(settings, market).orders.iloc[0]
    assert (entry["date"], entry["side"], entry["price"]) == (pd.Timestamp("2017-12-18"), "buy", 100.7)


def test_stop_on_a_session_without_a_real_open_uses_its_close_not_its_range():
    """12-21 opens stale (at 12-20's close) with a low of 96.0 under the 97.0 stop: without a real
    open the range is not trusted. The close 98.0 is above the stop, so nothing fills; 12-22 is
    stale too and closes at 96.2, under the stop: the stop fills at that close."""
    rows = {"2017-12-20": (100.0, 100.5, 99.5, 99.0), "2017-12-21": (99.0, 99.5, 96.0, 98.0),
            "2017-12-22": (98.0, 98.5, 95.0, 96.2)}
    trade, _ = first_trade(rows, RiskConfig((StopRule("fixed", 0.03),), costs=FREE))
    assert (trade["exit_date"], trade["exit_price"], trade["exit_reason"]) == (
        pd.Timestamp("2017-12-22"), pytest.approx(96.2, abs=1e-9), "stop-fixed")


def test_take_profit_on_a_stale_session_fills_only_if_the_close_reaches_it():
    """12-19 opens stale with a high of 105.5 above the 105.0 take-profit but closes at 104.0: no
    fill; 12-20 (stale, at 104.0) closes at 105.2: the limit fills at that close."""
    rows = {"2017-12-18": (100.0, 100.5, 99.5, 101.0), "2017-12-19": (101.0, 105.5, 100.8, 104.0),
            "2017-12-20": (104.0, 106.0, 103.0, 105.2)}
    trade, _ = first_trade(rows, RiskConfig(take_profit=TakeProfit("percent", 0.05), costs=FREE))
    assert (trade["exit_date"], trade["exit_price"], trade["exit_reason"]) == (
        pd.Timestamp("2017-12-20"), pytest.approx(105.2, abs=1e-9), "take-profit")


def test_a_close_only_series_fills_market_orders_at_the_next_close():
    """A series with only closes (open = high = low = close every session): the entry decided at
    12-15's close fills at 12-18's close."""
    frame = spy({"2017-12-18": (100.7, 100.7, 100.7, 100.7)})
    for column in ("open", "high", "low"):
        frame[column] = frame["close"]
    frame.loc["2017-12-18", ["open", "high", "low", "close", "adj_close"]] = 100.7
    market = build_market(MarketSpec(window="year-end"), {"SPY": frame})
    assert not market.bars["SPY"]["real_open"].any()
    settings = RunSettings("momentum", risk=RiskConfig(costs=FREE), windows_only=True,
                           thin_liquidity_scale=1.0)
    entry = run_backtest(settings, market).orders.iloc[0]
    assert (entry["date"], entry["price"]) == (pd.Timestamp("2017-12-18"), 100.7)


# Each ATR rule reads its own look-back: the ten sessions up to the entry decision (2017-12-04 ..
# 12-15) range 2.0 a session, the ten before 1.0, so at the 12-15 close ATR(10) = 2.0 and ATR(20) =
# 1.5. Bought at 100.0 on 12-18: the stop atr:2,sessions:20 sits at 100 - 2 x 1.5 = 97.0 and the
# take-profit atr:3,sessions:10 at 100 + 3 x 2.0 = 106.0 (the old code read ATR(20) for both: 104.5).
WIDE = {day: (100.0, 101.0, 99.0, 100.01) for day in nyse_sessions("2017-12-04", "2017-12-15")}
BOTH = RiskConfig((StopRule("atr", 2, atr_sessions=20),), take_profit=TakeProfit("atr", 3, atr_sessions=10),
                  costs=FREE)


def atr_trade(rows):
    market = build_market(MarketSpec(window="year-end", atr_sessions=20, atr_windows=(10,)),
                          {"SPY": spy({**WIDE, **rows})})
    frame = spy(WIDE)
    assert average_true_range(frame, 10)["2017-12-15"] == pytest.approx(2.0)
    assert average_true_range(frame, 20)["2017-12-15"] == pytest.approx(1.5)
    result = run_backtest(RunSettings("momentum", risk=BOTH, windows_only=True, thin_liquidity_scale=1.0),
                          market)
    assert result.orders.iloc[0]["price"] == 100.0
    return result.trades.iloc[0]


def test_an_atr_take_profit_reads_its_own_look_back():
    trade = atr_trade({"2017-12-19": (100.0, 106.5, 99.8, 106.2)})
    assert (trade["exit_date"], trade["exit_reason"]) == (pd.Timestamp("2017-12-19"), "take-profit")
    assert trade["exit_price"] == pytest.approx(106.0, abs=1e-9)


def test_an_atr_stop_beside_it_reads_its_own():
    trade = atr_trade({"2017-12-19": (99.5, 99.8, 96.5, 97.2)})  # ATR(10) would put it at 96.0: no exit
    assert (trade["exit_date"], trade["exit_reason"]) == (pd.Timestamp("2017-12-19"), "stop-atr")
    assert trade["exit_price"] == pytest.approx(97.0, abs=1e-9)


def test_tranches_step_a_third_of_the_move_each_session():
    """Three tranches to a 30% target hold 10%, 20%, 30% (not 30% at once, as steps of equity / 3
    did); cut to 15% they step down by 5%; to flat they sell at once."""
    from strategies import Playbook, Sizing, Target

    class Steps(Playbook):
        symbols = ("SPY",)

        def target(self, view):
            if view.date < pd.Timestamp("2017-10-16"):
                return Target({"SPY": 0.3})
            if view.date < pd.Timestamp("2017-11-01"):
                return Target({"SPY": 0.15})
            return Target()

    market = build_market(MarketSpec(), {"SPY": spy({})})
    risk = RiskConfig(sizing=Sizing("fixed-fraction", 1.0, tranches=3), costs=FREE)
    result = run_backtest(RunSettings(Steps(), risk=risk, thin_liquidity_scale=1.0, cash_buffer=0.0), market)
    weight = result.positions["SPY"] / result.equity  # at each close; the open-to-close drift is 0.01%
    near = dict(abs=0.001)
    assert list(weight.iloc[:5]) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.3], **near)
    cut = weight.index.get_loc(pd.Timestamp("2017-10-16"))  # decided at 10-16's close
    assert list(weight.iloc[cut:cut + 5]) == pytest.approx([0.3, 0.25, 0.2, 0.15, 0.15], **near)
    flat = weight.index.get_loc(pd.Timestamp("2017-11-01"))
    assert list(weight.iloc[flat:flat + 3]) == pytest.approx([0.15, 0.0, 0.0], **near)
