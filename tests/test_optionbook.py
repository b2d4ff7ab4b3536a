"""The option book inside the backtrader portfolio: a hand-worked example to the cent, the timing
rules (fills at the next open with the volatility known at the previous close), settlement."""

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from backtests.optionbook import OptionBook, OptionBroker, OptionMarket
from strategies.contracts import ContractSpec, OptionContract
from strategies.options import OptionCosts
from strategies.volsurface import SkewParams

FLAT = SkewParams(put_slope=0.0, call_slope=0.0, curvature=0.0)
DATES = pd.DatetimeIndex(["2018-12-18", "2018-12-19", "2018-12-20"])
OPEN = np.array([2505.0, 2490.0, 2400.0])
CLOSE = np.array([2500.0, 2450.0, 2410.0])
VOL = np.array([0.20, 0.25, 0.30])
RATE = np.array([0.02, 0.02, 0.02])
PUT = OptionContract("put", 248.0, DATES[2], ContractSpec())


def hand_put(spot, strike, years, vol, rate):
    """Black-Scholes put with no dividend, written out independently of strategies.options."""
    n = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    d1 = (math.log(spot / strike) + (rate + vol * vol / 2) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    return strike * math.exp(-rate * years) * n(-d2) - spot * n(-d1)


def hand_vega(spot, strike, years, vol, rate):
    """Black-Scholes vega (per 1.00 of vol), no dividend: spot phi(d1) sqrt(years)."""
    d1 = (math.log(spot / strike) + (rate + vol * vol / 2) * years) / (vol * math.sqrt(years))
    return spot * math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) * math.sqrt(years)


def market(vol=VOL, open_=OPEN, close=CLOSE):
    return OptionMarket(dates=DATES, open=open_.copy(), close=close.copy(), atm_vol=vol.copy(),
                        rate=RATE.copy(), expiries=pd.DatetimeIndex([DATES[2]]), div_yield=0.0, skew=FLAT)


class BuyTwoPuts(bt.Strategy):
    def __init__(self):
        self.seen = []

    def next(self):
        if len(self) == 1:
            self.broker.book.submit(PUT, 2, "test")
        self.seen.append((self.broker.getcash(), self.broker.getvalue()))


def run_book(option_market, cash=1_000_000.0, interest=False):
    frame = pd.DataFrame({"open": option_market.open, "high": np.maximum(option_market.open,
                          option_market.close), "low": np.minimum(option_market.open, option_market.close),
                          "close": option_market.close, "volume": 1.0}, index=DATES)
    cerebro = bt.Cerebro(stdstats=False)
    feed = bt.feeds.PandasData(dataname=frame, name="SPY")
    cerebro.adddata(feed)
    book = OptionBook(option_market, OptionCosts(spread_vol=0.005, min_tick=0.05,
                                                 commission_per_contract=0.65))
    broker = OptionBroker(book, feed, accrue_interest=interest)
    cerebro.setbroker(broker)
    broker.setcash(cash)
    cerebro.addstrategy(BuyTwoPuts)
    strategy = cerebro.run()[0]
    return strategy.seen, book


def test_buy_mark_and_expire_in_the_money_to_the_cent():
    seen, book = run_book(market())
    # session 1 open: 2 puts at the model price from the open (249.0) and session 0's vol (20%),
    # one calendar day to expiry, plus half the spread (0.5 vol points wide at this 20% vol: half of
    # vega x 0.005, at least half the 0.05 tick, here the tick), plus 2 x $0.65
    mid = hand_put(249.0, 248.0, 1 / 365, 0.20, 0.02)
    fill = mid + max(0.5 * 0.005 * hand_vega(249.0, 248.0, 1 / 365, 0.20, 0.02), 0.025)
    cash_1 = 1_000_000.0 - 2 * 100 * fill - 1.30
    value_1 = cash_1 + 2 * 100 * hand_put(245.0, 248.0, 1 / 365, 0.25, 0.02)
    # session 2 open: cash-settled at intrinsic from the opening level 2400 -> 240.0
    cash_2 = cash_1 + 2 * 100 * (248.0 - 240.0)
    assert seen[0] == (1_000_000.0, 1_000_000.0)
    assert seen[1][0] == pytest.approx(cash_1, abs=0.005)
    assert seen[1][1] == pytest.approx(value_1, abs=0.005)
    assert seen[2][0] == pytest.approx(cash_2, abs=0.005)
    assert seen[2][1] == pytest.approx(cash_2, abs=0.005)
    fills = pd.DataFrame(book.fills)
    assert list(fills["reason"]) == ["test", "expiry"]
    assert fills.loc[0, "price"] == pytest.approx(fill, abs=1e-9)
    assert fills.loc[0, "implied_vol"] == pytest.approx(0.20)
    assert book.trades[0]["pnl"] == pytest.approx(2 * 100 * (8.0 - fill), abs=1e-6)


def test_a_fill_never_uses_a_later_sessions_volatility_or_price():
    base, _ = run_book(market())
    # change everything from session 1's close on: the fill at session 1's open must not move
    vol = VOL.copy()
    vol[1:] = [0.9, 0.9]
    close = CLOSE.copy()
    close[1:] = [2000.0, 2000.0]
    later, _ = run_book(market(vol=vol, close=close))
    assert later[1][0] == base[1][0]  # cash after the fill
    assert later[1][1] != base[1][1]  # the mark at the close does see the new close


def test_interest_accrues_on_cash_at_the_previous_close_rate():
    seen, _ = run_book(market(), interest=True)
    no_interest, _ = run_book(market(), interest=False)
    interest_day_1 = 1_000_000.0 * 0.02 / 365
    assert seen[1][0] - no_interest[1][0] == pytest.approx(interest_day_1, rel=1e-9)


def test_uncovered_short_call_needs_margin():
    om = market()
    book = OptionBook(om, OptionCosts(spread_vol=0.0, min_tick=0.0, commission_per_contract=0.0))
    call = OptionContract("call", 250.0, DATES[2], ContractSpec())
    book.submit(call, -1000, "naked")
    cash = book.on_open(1, cash=10_000.0, underlying_units=0.0)
    assert cash == 10_000.0 and book.margin_rejections == 1
    book.submit(call, -1, "covered")
    cash = book.on_open(1, cash=10_000.0, underlying_units=10.0)  # 10 index units cover one contract
    assert cash > 10_000.0 and book.positions() == {call: -1.0}


def test_a_round_trip_is_one_trade_record_at_fill_prices_less_commission():
    """Adds and partial closes of one contract make one record from flat to flat; its P&L is the premium
    cash at fill prices (which hold the half-spread) less commissions, so the spread is paid once. A
    sale through zero closes the long and opens a short with the rest, still open at the end."""
    om = market()
    book = OptionBook(om, OptionCosts(spread_vol=0.005, min_tick=0.05, commission_per_contract=0.65))
    later = OptionContract("put", 245.0, pd.Timestamp("2019-01-18"), ContractSpec())
    book.submit(later, 10, "open")
    book.submit(later, 5, "add")
    cash = book.on_open(1, cash=100_000.0, underlying_units=0.0)
    book.submit(later, -8, "trim")
    book.submit(later, -10, "flip")
    cash = book.on_open(2, cash=cash, underlying_units=0.0)
    fills = pd.DataFrame(book.fills)
    buy, sell = fills["price"].iloc[0], fills["price"].iloc[2]
    assert fills["price"].iloc[1] == buy and fills["price"].iloc[3] == sell
    assert buy > om.quote(later, 1, "open").mid and sell < om.quote(later, 2, "open").mid  # half-spreads
    assert len(book.trades) == 1
    trip = book.trades[0]
    commission = 0.65 * (10 + 5 + 8) + 0.65 * 10 * 7 / 10  # the flip's commission shared pro rata
    assert trip["quantity"] == 15 and trip["exit_reason"] == "flip"
    assert trip["entry_price"] == pytest.approx(buy) and trip["exit_price"] == pytest.approx(sell)
    assert trip["pnl"] == pytest.approx(15 * 100 * (sell - buy), abs=1e-9)
    assert trip["commission"] == pytest.approx(commission, abs=1e-9)
    assert trip["pnl_net"] == pytest.approx(trip["pnl"] - commission, abs=1e-9)
    assert trip["spread"] > 0  # recorded for information, not deducted again
    (still_open,) = book.open_records(2)
    mark = om.quote(later, 2, "close").mid
    assert still_open["quantity"] == -3 and pd.isna(still_open["exit_date"])
    assert still_open["pnl"] == pytest.approx(3 * 100 * (sell - mark), abs=1e-9)
    # closed and open records together are the book's P&L: cash moved plus the marked position
    book_pnl = (cash - 100_000.0) + book.value(2)
    assert trip["pnl_net"] + still_open["pnl_net"] == pytest.approx(book_pnl, abs=1e-9)
