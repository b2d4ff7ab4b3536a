"""The close-only fill rule and the dividend carry, against hand-worked figures and S&P's published
total returns.

- Options: on a session whose open is not a real print, an option order fills at the model price at
  that session's close (with that close's volatility), and an expiring option settles at that close.
- Put-call parity with the stock leg's carry: long 10 index units + long put - short call (one XSP
  contract each, strike at the money) is a bond: over its life it earns the T-bill rate exactly as the
  same cash would, which holds only if the stock earns the yield the options are priced with.
- Buy and hold of the embedded S&P 500 with its dividend carry, 1999-2018, against the compounded
  published calendar-year total returns (S&P Dow Jones Indices, as tabulated by Damodaran; the table
  is data.dividends.SP500_TOTAL_RETURN, the same figures as /work/briefs/spx_total_returns.md).
"""

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from rates import NOVEMBER_2018_CASH_RATE

from backtests.market import MarketSpec, prepare_market
from backtests.optionbook import DAYS_PER_YEAR, OptionBook, OptionBroker, OptionMarket
from data.dividends import SP500_TOTAL_RETURN, session_yields, trailing_yields
from strategies.contracts import ContractSpec, OptionContract
from strategies.options import OptionCosts
from strategies.volsurface import SkewParams

FLAT = SkewParams(put_slope=0.0, call_slope=0.0, curvature=0.0)
FREE = OptionCosts(spread_vol=0.0, min_tick=0.0, commission_per_contract=0.0)


def _feed_frame(market: OptionMarket) -> pd.DataFrame:
    return pd.DataFrame({"open": market.open, "high": np.maximum(market.open, market.close),
                         "low": np.minimum(market.open, market.close), "close": market.close,
                         "volume": 1.0}, index=market.dates)


class Package(bt.Strategy):
    """At the first close: buy `units` of the index and submit the option legs; record value."""

    params = (("units", 0.0), ("legs", ()))

    def __init__(self):
        self.values = []

    def next(self):
        if len(self) == 1:
            if self.p.units > 0:
                self.buy(size=self.p.units)
            elif self.p.units < 0:
                self.sell(size=-self.p.units)
            for contract, quantity in self.p.legs:
                self.broker.book.submit(contract, quantity, "test")
        self.values.append(self.broker.getvalue())


def run_package(market: OptionMarket, units: float, legs, carry: np.ndarray | None, cash=1_000_000.0):
    cerebro = bt.Cerebro(stdstats=False)
    feed = bt.feeds.PandasData(dataname=_feed_frame(market), name="SPY")
    cerebro.adddata(feed)
    book = OptionBook(market, FREE)
    broker = OptionBroker(book, feed, accrue_interest=True,
                          carry={} if carry is None else {feed: (market.close, carry)})
    cerebro.setbroker(broker)
    broker.setcash(cash)
    cerebro.addstrategy(Package, units=units, legs=tuple(legs))
    strategy = cerebro.run()[0]
    return np.array(strategy.values), book, broker


# --- options on a session without a real open ------------------------------------------------------

DATES = pd.DatetimeIndex(["2018-12-18", "2018-12-19", "2018-12-20", "2018-12-21"])


def _stale_market(real_open):
    close = np.array([2500.0, 2450.0, 2410.0, 2430.0])
    open_ = np.array([2505.0, 2500.0, 2420.0, 2410.0])  # 12-19 and 12-21 open at the previous close
    return OptionMarket(dates=DATES, open=open_, close=close, atm_vol=np.array([0.20, 0.25, 0.30, 0.35]),
                        rate=np.full(4, 0.02), expiries=pd.DatetimeIndex([DATES[3]]), div_yield=0.0,
                        skew=FLAT, real_open=real_open)


def test_an_option_order_on_a_stale_open_fills_at_that_close_with_that_closes_vol():
    put = OptionContract("put", 245.0, DATES[3], ContractSpec())
    stale = _stale_market(np.array([True, False, True, False]))
    _, book, _ = run_package(stale, 0.0, [(put, 2)], None)
    fill = book.fills[0]
    assert fill["date"] == DATES[1]
    assert fill["price"] == pytest.approx(stale.quote(put, 1, "close").mid, rel=1e-12)
    assert fill["implied_vol"] == pytest.approx(0.25)  # the 12-19 close's, not the 12-18 close's 0.20
    # with a real open the same order fills at the open with the previous close's volatility
    real = _stale_market(None)
    _, book, _ = run_package(real, 0.0, [(put, 2)], None)
    assert book.fills[0]["implied_vol"] == pytest.approx(0.20)
    assert book.fills[0]["price"] != pytest.approx(book.fills[0]["price"] * 0 + fill["price"])


def test_an_expiry_without_a_real_open_settles_at_that_sessions_close():
    put = OptionContract("put", 245.0, DATES[3], ContractSpec())
    stale = _stale_market(np.array([True, False, True, False]))
    _, book, _ = run_package(stale, 0.0, [(put, 2)], None)
    settle = [f for f in book.fills if f["reason"] == "expiry"][0]
    assert settle["date"] == DATES[3]
    assert settle["price"] == pytest.approx(245.0 - 243.0)  # the 12-21 close 2430 x 0.1, not 241.0


# --- put-call parity with the stock leg's carry ----------------------------------------------------


def test_stock_plus_put_minus_call_with_the_same_yield_is_a_bond():
    """Hand-worked: one XSP contract = 10 index units. With spot S' = 250 and strike K = 250, parity
    C - P = S' e^{-qT} - K e^{-rT} makes the package cost 10 S + 100 (P - C) = 100 K e^{-rT} +
    100 S' (1 - e^{-qT}) at the fill, and at expiry it is worth 100 K plus the dividends, with their
    interest: the same as that cost left in cash. The index is flat until the expiry open, where it
    jumps 10% (the payoff is K whatever the level)."""
    n = 60
    dates = pd.DatetimeIndex(pd.bdate_range("2015-01-02", periods=n).to_numpy())
    level = np.full(n, 2500.0)
    level[-1] = 2750.0
    r, q = 0.03, 0.02
    market = OptionMarket(dates=dates, open=level.copy(), close=level.copy(), atm_vol=np.full(n, 0.2),
                          rate=np.full(n, r), expiries=pd.DatetimeIndex([dates[-1]]),
                          div_yield=np.full(n, q), skew=FLAT)
    days = np.diff(dates.values).astype("timedelta64[D]").astype(float)
    carry = np.concatenate([[0.0], q * days / DAYS_PER_YEAR])
    spec = ContractSpec()
    put, call = (OptionContract(kind, 250.0, dates[-1], spec) for kind in ("put", "call"))
    legs = [(put, 1), (call, -1)]

    with_carry, _, broker = run_package(market, 10.0, legs, carry)
    cash_only, _, _ = run_package(market, 0.0, [], carry)
    # the cost at the fill (session 1's open), by parity
    years = (dates[-1] - dates[1]).days / 365.0
    cost = 100 * 250.0 * math.exp(-r * years) + 100 * 250.0 * (1 - math.exp(-q * years))
    assert with_carry[1] == pytest.approx(cash_only[1], abs=1e-6)  # fair prices: no gain at the fill
    assert broker.dividends_earned == pytest.approx(10 * 2500.0 * q * (dates[-1] - dates[1]).days / 365,
                                                    rel=1e-12)
    # the package grew like cash, to second-order compounding terms (continuous in the pricer, simple
    # per session in the carry and the interest: r q T^2 and q^2 T^2 on 25,000, under 0.5) against
    # dividends of about 115
    assert with_carry[-1] - cash_only[-1] == pytest.approx(0.0, abs=0.5)
    # without the carry the stock leg falls short by the dividends the options priced in
    no_carry, _, _ = run_package(market, 10.0, legs, None)
    shortfall = cash_only[-1] - no_carry[-1]
    priced_in = 100 * 250.0 * (1 - math.exp(-q * years)) * math.exp(r * years)
    assert shortfall == pytest.approx(priced_in, rel=2e-3)
    assert cost > 0


def test_short_stock_pays_the_carry():
    n = 30
    dates = pd.DatetimeIndex(pd.bdate_range("2015-01-02", periods=n).to_numpy())
    level = np.full(n, 2000.0)
    market = OptionMarket(dates=dates, open=level, close=level, atm_vol=np.full(n, 0.2),
                          rate=np.zeros(n), expiries=pd.DatetimeIndex([dates[-1]]), div_yield=0.02, skew=FLAT)
    carry = np.concatenate([[0.0], 0.02 * np.diff(dates.values).astype("timedelta64[D]").astype(float) / 365])
    _, _, long_broker = run_package(market, 5.0, [], carry)
    _, _, short_broker = run_package(market, -5.0, [], carry)
    held_days = (dates[-1] - dates[1]).days
    assert long_broker.dividends_earned == pytest.approx(5 * 2000.0 * 0.02 * held_days / 365, rel=1e-12)
    assert short_broker.dividends_earned == pytest.approx(-long_broker.dividends_earned, rel=1e-12)


def test_a_later_yield_changes_nothing_before_it():
    """Perturbation: the carry credited at session i uses only the yield known at close i-1."""
    n = 40
    dates = pd.DatetimeIndex(pd.bdate_range("2015-01-02", periods=n).to_numpy())
    level = 2000.0 * 1.001 ** np.arange(n)
    market = OptionMarket(dates=dates, open=level, close=level, atm_vol=np.full(n, 0.2),
                          rate=np.full(n, 0.01), expiries=pd.DatetimeIndex([dates[-1]]), div_yield=0.02,
                          skew=FLAT)
    days = np.concatenate([[0.0], np.diff(dates.values).astype("timedelta64[D]").astype(float)])
    base_yield = np.full(n, 0.02)
    moved_yield = base_yield.copy()
    moved_yield[25:] = 0.09
    carry = lambda y: np.concatenate([[0.0], y[:-1] * days[1:] / 365])  # noqa: E731
    base, _, _ = run_package(market, 10.0, [], carry(base_yield))
    moved, _, _ = run_package(market, 10.0, [], carry(moved_yield))
    np.testing.assert_array_equal(base[:26], moved[:26])  # session 25's carry uses close 24's yield
    assert moved[27] > base[27]


# --- the dividend yield and the benchmark against the published total returns ----------------------


def test_yield_of_a_session_is_the_previous_years_published_figure():
    yields = trailing_yields()
    sessions = pd.DatetimeIndex(["2005-06-01", "2006-01-03", "2006-12-29"])
    np.testing.assert_array_equal(session_yields(sessions), yields[[2004, 2005, 2005]].to_numpy())
    # by hand for 2017: TR 21.83%, PR from the embedded closes 2238.83 (2016) -> 2673.61 (2017)
    price = 2673.61 / 2238.83 - 1
    assert yields[2017] == pytest.approx((0.2183 - price) / (1 + price), abs=1e-5)


def test_buy_and_hold_with_the_carry_matches_sp500_total_return_1999_2018():
    """Within 0.3 pp a year of the published total return compounded over 1999-2018 (it lands
    within 0.01 pp), for the benchmark series and for the published calendar years one by one
    within 0.6 pp (the yield is last year's, so a year whose dividends moved is off by the change).
    The market runs to 2018-12-31, past the last published T-bill rate, with a stated cash rate: the
    carry does not depend on it."""
    market = prepare_market(MarketSpec(end="2018-12-31", cash_rate=NOVEMBER_2018_CASH_RATE))
    bars = market.bars["SPY"]
    total = (1 + pd.Series(market.options.div_yield, bars.index).shift()
             * bars.index.to_series().diff().dt.days / 365 + bars["close"].pct_change().fillna(0.0) - 1)
    growth = (1 + total.fillna(0.0))
    assert bars.index[0] == pd.Timestamp("1999-01-04")
    # the first session's return (from 1998's last close, 1229.23, to 1999-01-04's 1228.10) is not in
    # the series: add it so that the span is the calendar years 1999-2018
    first = 1228.10 / 1229.23 - 1
    ours = ((1 + first) * growth.prod()) ** (1 / 20) - 1
    published = np.prod([1 + SP500_TOTAL_RETURN[y] / 100 for y in range(1999, 2019)]) ** (1 / 20) - 1
    assert ours == pytest.approx(published, abs=0.003)
    by_year = growth.groupby(growth.index.year).prod()
    by_year[1999] *= 1 + first
    for year in range(1999, 2019):
        assert by_year[year] - 1 == pytest.approx(SP500_TOTAL_RETURN[year] / 100, abs=0.006), year
