"""Synthetic twins of Cboe's option strategy benchmark indices, run on our own option engine.

Cboe's BXM, PPUT, CLL and PUT indices were computed from traded S&P 500 option prices; a twin holds
the same positions with every option priced, filled, settled and marked by `OptionMarket` /
`OptionBook` (the engine the playbooks trade through) on the embedded S&P 500 and its volatility
proxy. If the twin's relations to the S&P 500 (volatility ratio, return gap, drawdown ratio) fall in
the bands of /work/shared/references/cboe-benchmarks.md, the option layer prices and books options
about as the market did; that is the best offline evidence we have.

The index position is held here in pandas/numpy (no backtrader: the book's `on_open(i, cash, units)`
and `value(i)` are the whole interface a portfolio needs).

Timing. Cboe rolls at the monthly expiry (third Friday): the expiring SPX option settles at that
session's opening print (AM settlement) and the new one is traded the same morning. Our engine fills
at the open after a decision, so a twin decides at the close of the session BEFORE the expiry
session (strike from that close, quantity from the value at that close) and the new options fill at
the expiry session's open, the same print at which the old ones settle. The new strike is therefore
picked from the previous close, not from the index at 11 am as Cboe does: an overnight gap can leave
the "at-the-money" call a little in or out of the money.

Contracts. An SPX-style spec: the option is written on the index level itself (scale 1.0), strikes
on a 5-point grid, multiplier 100, so one contract covers 100 index units. Quantities are fractional:
an index twin holds exactly one option per index unit (or per the collateral it has), which whole
contracts of a $1M account could not.

Sizing (as Cboe's chain-linked index formulas imply). At each roll the twin's whole value V goes
into the new package, valued at the decision close: BXM holds N = V / (S - C) index units, short N
calls; PPUT N = V / (S + P) units and N puts; CLL N = V / (S + P - C) units, N puts, N short calls;
PUT sells N puts with (V + N P) g = N K, where g is the T-bill growth to expiry: the collateral at
expiry covers the largest possible settlement. Between rolls nothing is traded; dividends and
interest build up in cash and are swept into the next roll.

Dividends: the embedded S&P 500 is a price index, and Cboe's indices are total-return. Both the twin
and the S&P 500 it is compared with receive the option market's dividend yield (the S&P 500's
trailing yield known on each session, data.dividends; the same yield the options are priced with):
the twin as cash on its index units at each open for the
calendar days since the previous close, the S&P 500 as q * days / 365 added to each session's price
return. The S&P 500 is bought at the same open as the twin's first roll, so both cover the same
sessions with the same exposure timing.

Costs: Cboe's indices pay none. Twins run with zero option spread and commission (`ZERO_COSTS`) for
the checks; `benchmark_report` also runs them with `OptionCosts()` (a spread of 0.5 vol points at 20%
implied vol, widening with the square of the vol; 0.05 tick; 0.65 per contract) for a second line.
Index trades are free in both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtests.errors import RunError
from backtests.metrics import performance
from backtests.optionbook import DAYS_PER_YEAR, OptionBook, OptionMarket
from strategies.contracts import ContractSpec, OptionContract, pick_strike
from strategies.options import OptionCosts
from strategies.volsurface import VRP_RATIO, vix_of_atm

INDICES = ("bxm", "pput", "cll", "put")
INDEX_NAMES = {
    "bxm": "BXM (BuyWrite)",
    "pput": "PPUT (5% Put Protection)",
    "cll": "CLL (95-110 Collar)",
    "put": "PUT (PutWrite)",
}
SPX = ContractSpec(root="SPX", scale=1.0, strike_step=5.0, multiplier=100)
ZERO_COSTS = OptionCosts(spread_vol=0.0, min_tick=0.0, commission_per_contract=0.0)
DEFAULT_COSTS = OptionCosts()  # the playbooks' default costs: the report's "with costs" line
START_VALUE = 1_000_000.0
QUARTER_MONTHS = (3, 6, 9, 12)
SESSIONS_PER_YEAR = 252
# The implied-volatility check compares each session's proxy with the volatility realised over the
# month it prices: 21 sessions, the horizon of VIX and of the GARCH forecast.
REALIZED_SESSIONS = 21
MODEL_SOURCES = ("ewma", "garch", "realized")
# Fewer model-priced sessions than a year's make the implied/realised ratio one market episode's, not
# the proxy's (from 2014 the proxy is VIX but for a day or two where VIX has a gap): shown as n/a.
MIN_IV_SESSIONS = 252


# --- the twins ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Twin:
    """One twin run.

    daily      value, cash, units (index units held), options (book mark), close, on every session
               from the first decision close to the end
    returns    the twin's daily returns from the first roll session (the first session it holds)
    benchmark  S&P 500 total-return daily returns on the same sessions, bought at the same open
    cash_rate  the T-bill account's daily return on the same sessions (the Sharpe ratio's rf)
    rolls      one row per roll: decision and roll (fill) session, index level and value at the
               decision close, index units and `positions` ({contract: contracts held}) after the roll
    fills      the book's fill records (columns as backtests.result.ORDER_COLUMNS)
    """

    index: str
    daily: pd.DataFrame
    returns: pd.Series
    benchmark: pd.Series
    cash_rate: pd.Series
    rolls: pd.DataFrame
    fills: pd.DataFrame
    costs: OptionCosts


def _call(strike, expiry):
    return OptionContract("call", strike, expiry, SPX)


def _put(strike, expiry):
    return OptionContract("put", strike, expiry, SPX)


def _later_expiry(expiries: pd.DatetimeIndex, after: pd.Timestamp, months: int) -> pd.Timestamp:
    """The `months`-th listed monthly expiry after `after` (1 = the next one)."""
    later = expiries[expiries > after]
    if len(later) < months:
        raise RunError(f"no option expiry listed {months} month(s) after {after:%Y-%m-%d}; "
                       f"the calendar ends at {expiries[-1]:%Y-%m-%d}")
    return later[months - 1]


def _units(contracts: float) -> float:
    """Index units covered by `contracts`, computed exactly as the book computes the units its short
    calls need (contracts x units per contract), so a covered call is never off by a rounding error."""
    return contracts * SPX.units_per_contract


def _plan(index, market: OptionMarket, book: OptionBook, i: int, value: float, expiry: pd.Timestamp):
    """What the twin holds after the roll at expiry session `expiry`, decided at session i's close.

    Returns ({contract: contracts held}, index units held). Prices are the book's mids at i's close,
    the figures known when the decision is made.
    """
    spot = float(market.close[i])
    one_month = _later_expiry(market.expiries, expiry, 1)

    def mid(contract):
        return book.quote(contract, i, "close").mid

    if index == "bxm":
        # Cboe: the call "just above" the index: the nearest grid strike at or above it
        call = _call(pick_strike("call", spot, 0.0, SPX.strike_step, "out"), one_month)
        contracts = value / (spot - mid(call)) / SPX.units_per_contract
        return {call: -contracts}, _units(contracts)
    if index == "pput":
        # 95% of the index; between grid strikes the one below (further out of the money), as CLL's
        # methodology states for its 5% put
        put = _put(pick_strike("put", spot, 0.05, SPX.strike_step, "out"), one_month)
        contracts = value / (spot + mid(put)) / SPX.units_per_contract
        return {put: contracts}, _units(contracts)
    if index == "put":
        put = _put(pick_strike("put", spot, 0.0, SPX.strike_step, "nearest"), one_month)
        growth = 1.0 + float(market.rate[i]) * (one_month - expiry).days / DAYS_PER_YEAR
        # (value + n * premium) * growth = n * strike: fully cash-secured at expiry
        contracts = value * growth / (put.strike - mid(put) * growth) / SPX.units_per_contract
        return {put: -contracts}, 0.0
    if index == "cll":
        call = _call(pick_strike("call", spot, 0.10, SPX.strike_step, "out"), one_month)
        standing = [c for c, q in book.positions().items() if c.kind == "put" and q > 0 and c.expiry > expiry]
        if expiry.month in QUARTER_MONTHS or not standing:
            put = _put(pick_strike("put", spot, 0.05, SPX.strike_step, "out"),
                       _later_expiry(market.expiries, expiry, 3))
        else:
            put = standing[0]
            # Cboe's "cross-roll": a call struck below the standing put replaces that put with a new
            # 5% out-of-the-money put of the same quarterly expiry
            if call.strike < put.strike:
                put = _put(pick_strike("put", spot, 0.05, SPX.strike_step, "out"), put.expiry)
        contracts = value / (spot + mid(put) - mid(call)) / SPX.units_per_contract
        return {put: contracts, call: -contracts}, _units(contracts)
    raise RunError(f"unknown Cboe index {index!r}; choose from {', '.join(INDICES)}")


def _roll_sessions(market: OptionMarket) -> np.ndarray:
    """Positions in market.dates of the monthly expiries after its first session."""
    dates = market.dates
    inside = market.expiries[(market.expiries > dates[0]) & (market.expiries <= dates[-1])]
    where = dates.get_indexer(inside)
    if (where < 0).any():
        missing = inside[where < 0][0]
        raise RunError(f"the S&P 500 data has no bar on the option expiry session {missing:%Y-%m-%d}; "
                       "a twin settles and rolls there")
    return where


def _first_roll(index, market: OptionMarket, rolls: np.ndarray) -> int:
    """The first roll whose decision close has a volatility (CLL: the first quarterly roll)."""
    for r in rolls:
        if not math.isfinite(market.atm_vol[r - 1]):
            continue
        if index == "cll" and market.dates[r].month not in QUARTER_MONTHS:
            continue
        return int(r)
    raise RunError(f"no {index.upper()} roll between {market.dates[0]:%Y-%m-%d} and "
                   f"{market.dates[-1]:%Y-%m-%d} with a volatility known the session before; "
                   "give the twin a longer span")


def run_twin(index: str, market: OptionMarket, costs: OptionCosts = ZERO_COSTS,
             start_value: float = START_VALUE) -> Twin:
    """Run the twin of Cboe index `index` (one of INDICES) over all of `market`'s sessions.

    Each session: interest on cash (the T-bill rate known at the previous close, simple for the
    calendar days between) and dividends on the index units accrue at the open; on a roll session
    the index position is set to its new size at the open and the book settles the expiring options
    and fills the new ones there; everything is valued at the close. See the module docstring.
    """
    if index not in INDICES:
        raise RunError(f"unknown Cboe index {index!r}; choose from {', '.join(INDICES)}")
    if len(market.dates) < 2:
        raise RunError("a twin needs at least two sessions")
    rolls = _roll_sessions(market)
    first = _first_roll(index, market, rolls)
    roll_set = set(int(r) for r in rolls[rolls >= first])
    book = OptionBook(market, costs)
    n = len(market.dates)
    decision = first - 1
    span = n - decision
    values, cash_path, units_path, options_path = (np.empty(span) for _ in range(4))
    cash_rate = np.zeros(span)
    cash, units, target_units = float(start_value), 0.0, 0.0
    roll_rows = []
    for j, i in enumerate(range(decision, n)):
        if i > decision:
            days = (market.dates[i] - market.dates[i - 1]).days
            accrual = float(market.rate[i - 1]) * days / DAYS_PER_YEAR
            cash_rate[j] = accrual
            dividends = units * float(market.close[i - 1]) * market.yield_at(i - 1) * days / DAYS_PER_YEAR
            cash += cash * accrual + dividends
            if i in roll_set:
                # the index trade and the option trades meet at this open: the calls are covered by
                # the units held after it, as in a buy-write
                cash -= (target_units - units) * market.fill_level(i)
                units = target_units
            cash = book.on_open(i, cash, units)
        options = book.value(i)
        value = units * float(market.close[i]) + cash + options
        values[j], cash_path[j], units_path[j], options_path[j] = value, cash, units, options
        if i + 1 in roll_set:
            if not math.isfinite(market.atm_vol[i]):
                raise RunError(f"no implied volatility known at the close of {market.dates[i]:%Y-%m-%d}, "
                               f"the {index.upper()} roll decision")
            expiry = market.dates[i + 1]
            targets, target_units = _plan(index, market, book, i, value, expiry)
            held = book.positions()
            for contract, quantity in held.items():
                if contract.expiry > expiry and contract not in targets:
                    book.submit(contract, -quantity, f"{index} roll")
            for contract, quantity in targets.items():
                change = quantity - held.get(contract, 0.0)
                if change:
                    book.submit(contract, change, f"{index} roll")
            roll_rows.append({
                "decision": market.dates[i], "roll": expiry, "index_level": float(market.close[i]),
                "value": value, "units": target_units, "positions": targets,
                "contracts": "; ".join(f"{c.label} x {n:+.4f}" for c, n in targets.items()),
            })
    fills = pd.DataFrame(book.fills)
    rejected = fills["reason"].str.startswith("rejected") if len(fills) else pd.Series(dtype=bool)
    if rejected.any():
        row = fills[rejected].iloc[0]
        raise RunError(f"the {index.upper()} twin had an order rejected on {row['date']:%Y-%m-%d}: "
                       f"{row['reason']}")
    dates = market.dates[decision:]
    daily = pd.DataFrame({"value": values, "cash": cash_path, "units": units_path,
                          "options": options_path, "close": market.close[decision:]}, index=dates)
    held_sessions = dates[1:]
    returns = pd.Series(values[1:] / values[:-1] - 1.0, index=held_sessions, name=index)
    return Twin(index, daily, returns, _benchmark(market, first), pd.Series(cash_rate[1:], held_sessions),
                pd.DataFrame(roll_rows), fills, costs)


def _benchmark(market: OptionMarket, first: int) -> pd.Series:
    """S&P 500 total return (price + the dividend yield), bought at session `first`'s open."""
    close = np.asarray(market.close[first:], dtype=float)
    days = np.diff(market.dates[first:].values).astype("timedelta64[D]").astype(float)
    returns = np.empty(close.size)
    returns[0] = close[0] / market.fill_level(first) - 1.0
    known = np.broadcast_to(np.asarray(market.div_yield, dtype=float), market.dates.shape)[first:-1]
    returns[1:] = close[1:] / close[:-1] - 1.0 + known * days / DAYS_PER_YEAR
    return pd.Series(returns, index=market.dates[first:], name="S&P 500")


# --- the checks against the published figures -----------------------------------------------------


def _annual(growth_percent: float, years: float) -> float:
    """Compound annual rate of a cumulative growth (+830% is 830.0) over `years`."""
    return (1.0 + growth_percent / 100.0) ** (1.0 / years) - 1.0


# Asset Consulting Group for Cboe (Feb 2012): total growth mid-1986 to end-2011, 25.5 years.
_ACG_YEARS = 25.5
_ACG_SP500 = _annual(807.0, _ACG_YEARS)


@dataclass(frozen=True)
class CheckRule:
    """One relation between a twin and the S&P 500: what is measured, what was published, the band.

    `measure` is one of "vol_ratio", "return_gap" (annualised return minus the S&P 500's, a fraction),
    "drawdown_ratio", "sharpe_ratio", "worst_month_ratio". A rule without a band is shown for
    information: the references give a figure but no tolerance for it.
    """

    measure: str
    label: str
    published: float | None
    source: str
    low: float | None = None
    high: float | None = None

    @property
    def has_band(self) -> bool:
        return self.low is not None or self.high is not None


_DRAWDOWN_NOTE = "Wilshire 2016, 1986-2016: option indices' drawdowns 24% below the S&P 500's on average"
RULES: dict[str, tuple[CheckRule, ...]] = {
    "bxm": (
        CheckRule("vol_ratio", "volatility / S&P 500 volatility", 0.70,
                  "ACG 2012, 1986-2011: about 30% less volatile", 0.60, 0.80),
        CheckRule("return_gap", "annualised return - S&P 500's", _annual(830.0, _ACG_YEARS) - _ACG_SP500,
                  "ACG 2012, 1986-2011: growth +830% vs +807%", -0.025, 0.025),
        CheckRule("drawdown_ratio", "max drawdown / S&P 500 max drawdown", 0.76, _DRAWDOWN_NOTE, None, 1.0),
    ),
    "pput": (
        CheckRule("return_gap", "annualised return - S&P 500's", None,
                  "Bondarenko 2019, 1986-2018: PPUT 6.6% a year (S&P 500 not given)", -0.045, -0.005),
        CheckRule("vol_ratio", "volatility / S&P 500 volatility", None,
                  "Wilshire 2019, 1986-2018: every option index less volatile", None, 1.0),
        CheckRule("drawdown_ratio", "max drawdown / S&P 500 max drawdown", 0.76, _DRAWDOWN_NOTE, None, 1.0),
    ),
    "put": (
        CheckRule("vol_ratio", "volatility / S&P 500 volatility", 9.9 / 14.9,
                  "Wilshire 2019, 1986-2018: 9.9% vs 14.9%", 0.55, 0.80),
        CheckRule("return_gap", "annualised return - S&P 500's", 0.1013 - 0.0985,
                  "Bondarenko 2016, 1986-2015: 10.13% vs 9.85%"),
        CheckRule("sharpe_ratio", "Sharpe / S&P 500 Sharpe", 1.46,
                  "Wilshire 2019, 1986-2018: Sharpe 46% above the S&P 500's"),
        CheckRule("drawdown_ratio", "max drawdown / S&P 500 max drawdown", 0.76, _DRAWDOWN_NOTE),
    ),
    "cll": (
        CheckRule("vol_ratio", "volatility / S&P 500 volatility", 0.70,
                  "ACG 2012, 1986-2011: about 30% less volatile"),
        CheckRule("return_gap", "annualised return - S&P 500's", _annual(368.0, _ACG_YEARS) - _ACG_SP500,
                  "ACG 2012, 1986-2011: growth +368% vs +807%"),
        CheckRule("worst_month_ratio", "worst month / S&P 500 worst month", 8.6 / 21.5,
                  "ACG 2012, 1986-2011: -8.6% vs -21.5%"),
    ),
}
IV_RULE = CheckRule("iv_ratio", "mean VIX-equivalent of the proxy / mean realised vol (model, not VIX)",
                    19.3 / 15.1, "Bondarenko 2019, since 1990: 19.3% vs 15.1%", 1.15, 1.40)


@dataclass(frozen=True)
class PeriodRule:
    """A published figure for exactly one period inside our data: judged on the same sessions.

    The twin is run from the first roll on or after `start` to `end` (the proxy is the one computed
    on all history, so the cut restarts nothing). `measure` is "cagr" (the twin's annualised total
    return) or "benchmark_cagr" (its S&P 500 leg's, same sessions); the band is published +/- `tolerance`.
    """

    index: str
    measure: str
    label: str
    start: pd.Timestamp
    end: pd.Timestamp
    published: float
    tolerance: float
    source: str

    def rule(self) -> CheckRule:
        return CheckRule(self.measure, self.label, self.published, self.source,
                         self.published - self.tolerance, self.published + self.tolerance)


_B2016 = "Bondarenko 2016 (Cboe), 2006-2015: PUT 6.59%, S&P 500 7.09% a year"
PERIOD_RULES: tuple[PeriodRule, ...] = (
    PeriodRule("put", "cagr", "PUT annualised return, 2006-2015 (same sessions)",
               pd.Timestamp("2006-01-01"), pd.Timestamp("2015-12-31"), 0.0659, 0.015, _B2016),
    PeriodRule("put", "benchmark_cagr", "S&P 500 leg annualised return, 2006-2015 (same sessions)",
               pd.Timestamp("2006-01-01"), pd.Timestamp("2015-12-31"), 0.0709, 0.005, _B2016),
)
# Cboe's published annual averages of VIX (checks only, never fitted: /work/briefs/spx_total_returns.md)
PUBLISHED_VIX = {1999: 24.4, 2000: 23.3, 2001: 25.8, 2002: 27.3, 2003: 22.0, 2004: 15.5, 2005: 12.8,
                 2006: 12.8, 2007: 17.5, 2008: 32.7, 2009: 31.5, 2010: 22.5, 2011: 24.2, 2012: 17.8,
                 2013: 14.2}
VIX_RULE = CheckRule("vix_gap", "proxy VIX-equivalent - published VIX, mean of the model years' gaps",
                     None, "Cboe, annual averages of VIX 1999-2013 (years the proxy prices whole)")


@dataclass(frozen=True)
class Check:
    """A rule measured on one run: the twin's value, the band and whether it holds."""

    rule: CheckRule
    value: float

    @property
    def status(self) -> str:
        """PASS / MISS inside or outside the band; "info" without a band; "n/a" when not measurable."""
        if not math.isfinite(self.value):
            return "n/a"
        if not self.rule.has_band:
            return "info"
        low = -math.inf if self.rule.low is None else self.rule.low
        high = math.inf if self.rule.high is None else self.rule.high
        return "PASS" if low <= self.value <= high else "MISS"

    @property
    def difference(self) -> float:
        """Twin minus published (NaN where nothing comparable was published)."""
        return math.nan if self.rule.published is None else self.value - self.rule.published


def worst_month(returns: pd.Series) -> float:
    """The worst calendar-month compounded return of a daily return series.

    >>> r = pd.Series([0.1, -0.5, 0.2], index=pd.to_datetime(["2020-01-30", "2020-01-31", "2020-02-03"]))
    >>> round(worst_month(r), 6)     # January: 1.1 * 0.5 - 1
    -0.45
    """
    monthly = (1.0 + returns).groupby(returns.index.to_period("M")).prod() - 1.0
    return float(monthly.min())


def measure(name: str, twin: Twin) -> float:
    """The value of a rule's measure for a twin against its S&P 500 benchmark (same sessions)."""
    rf = annual_cash_rate(twin)
    mine = performance(twin.returns, rf=rf)
    index = performance(twin.benchmark, rf=rf)
    if name == "vol_ratio":
        return mine["volatility"] / index["volatility"]
    if name == "return_gap":
        return mine["cagr"] - index["cagr"]
    if name == "drawdown_ratio":
        return mine["max_drawdown"] / index["max_drawdown"]
    if name == "sharpe_ratio":
        return mine["sharpe"] / index["sharpe"]
    if name == "worst_month_ratio":
        return worst_month(twin.returns) / worst_month(twin.benchmark)
    if name == "cagr":
        return mine["cagr"]
    if name == "benchmark_cagr":
        return index["cagr"]
    raise RunError(f"unknown twin measure {name!r}")


def annual_cash_rate(twin: Twin) -> float:
    """The T-bill account's compound annual return over the twin's sessions (252 a year)."""
    growth = float(np.prod(1.0 + twin.cash_rate.to_numpy()))
    return growth ** (SESSIONS_PER_YEAR / len(twin.cash_rate)) - 1.0


def iv_ratio(market: OptionMarket) -> float:
    """Mean VIX-equivalent over mean realised vol, on the sessions priced by the model.

    The VIX-equivalent of a session is the VIX level our smile around its at-the-money vol gives
    (`vix_of_atm`): what Bondarenko's 19.3% measures (a VIX-style implied vol), not the at-the-money
    vol, which sits under it by the skew's share.

    Realised vol at session t is the annualised root mean square of the REALIZED_SESSIONS daily log
    returns after t: the month the implied vol of t prices (this is an evaluation, so it looks
    forward on purpose; nothing traded uses it). Only sessions whose proxy came from the GARCH or
    realised-vol model count (not VIX, not warm-up), and only those with a full month after them.
    NaN when there are fewer than MIN_IV_SESSIONS of them.
    """
    close = np.asarray(market.close, dtype=float)
    squares = np.diff(np.log(close)) ** 2
    window = REALIZED_SESSIONS
    if squares.size < window or market.vol_source is None:
        return math.nan
    sums = np.convolve(squares, np.ones(window), mode="valid")  # sums[t] = squares[t : t + window]
    forward = np.full(close.size, np.nan)
    forward[: sums.size] = np.sqrt(SESSIONS_PER_YEAR * sums / window)  # returns t+1 .. t+window
    model = np.isin(np.asarray(market.vol_source, dtype=object), MODEL_SOURCES)
    use = model & np.isfinite(forward) & np.isfinite(np.asarray(market.atm_vol, dtype=float))
    if use.sum() < MIN_IV_SESSIONS:
        return math.nan
    implied = vix_of_atm(np.asarray(market.atm_vol, dtype=float)[use], market.skew)
    return float(np.mean(implied) / np.mean(forward[use]))


def vix_year_gaps(market: OptionMarket) -> pd.Series:
    """Per calendar year with a published VIX average: the proxy's mean VIX-equivalent minus it, in
    VIX points, for years whose sessions the model priced in full (no VIX, no warm-up day)."""
    if market.vol_source is None:
        return pd.Series(dtype=float)
    dates = pd.DatetimeIndex(market.dates)
    frame = pd.DataFrame({"level": 100.0 * vix_of_atm(np.asarray(market.atm_vol, dtype=float), market.skew),
                          "model": np.isin(np.asarray(market.vol_source, dtype=object), MODEL_SOURCES)},
                         index=dates)
    gaps = {}
    for year, rows in frame.groupby(dates.year):
        whole = rows.index[0].month == 1 and rows.index[0].day <= 7 and rows.index[-1].month == 12 \
            and rows.index[-1].day >= 24
        if year in PUBLISHED_VIX and whole and rows["model"].all():
            gaps[year] = float(rows["level"].mean()) - PUBLISHED_VIX[year]
    return pd.Series(gaps, dtype=float, name="proxy - published VIX")


@dataclass(frozen=True)
class BenchmarkReport:
    """A twin beside the S&P 500 and the published figures (what `cli.py options benchmark` prints)."""

    index: str
    first: pd.Timestamp
    last: pd.Timestamp
    vol_method: str
    figures: dict  # "twin", "twin with costs", "S&P 500" -> performance() dict
    checks: tuple[Check, ...]
    rolls: int
    cash_rate: float  # the T-bill account's annual return over the sessions: the Sharpe ratios' rf
    costs: OptionCosts | None  # of the "twin with costs" line; None when it was not run
    vrp_ratio: float = VRP_RATIO  # implied / realised ratio on the model's forecast
    vix_gaps: pd.Series | None = None  # per year: proxy VIX-equivalent - published VIX average


def benchmark_report(index: str, market: OptionMarket, vol_method: str = "ewma",
                     with_costs: OptionCosts | None = DEFAULT_COSTS,
                     vrp_ratio: float = VRP_RATIO) -> BenchmarkReport:
    """Run the twin without costs (and with `with_costs`, unless None) and measure every rule: the
    1986-20xx relations on the whole run, each PERIOD_RULES figure on its own sessions where the run
    covers them, the proxy's implied/realised ratio and its gap to the published VIX averages.
    `vol_method` and `vrp_ratio` only label the report (the market was built with them)."""
    twin = run_twin(index, market)
    rf = annual_cash_rate(twin)
    figures = {"twin": performance(twin.returns, rf=rf)}
    if with_costs is not None:
        figures["twin with costs"] = performance(run_twin(index, market, with_costs).returns, rf=rf)
    figures["S&P 500"] = performance(twin.benchmark, rf=rf)
    checks = tuple(Check(rule, measure(rule.measure, twin)) for rule in RULES[index])
    for period in PERIOD_RULES:
        if period.index != index or not _covers(market, period):
            continue
        keep = (market.dates >= period.start) & (market.dates <= period.end)
        same = twin if keep.all() else run_twin(index, cut_market(market, keep))
        checks += (Check(period.rule(), measure(period.measure, same)),)
    checks += (Check(IV_RULE, iv_ratio(market)),)
    gaps = vix_year_gaps(market)
    checks += (Check(VIX_RULE, float(gaps.mean()) if len(gaps) else math.nan),)
    return BenchmarkReport(index, twin.returns.index[0], twin.returns.index[-1], vol_method, figures,
                           checks, len(twin.rolls), rf, with_costs, vrp_ratio, gaps)


def _covers(market: OptionMarket, period: PeriodRule) -> bool:
    """True when the market spans the period (to within its first and last week: holidays)."""
    week = pd.Timedelta(days=7)
    return bool(market.dates[0] <= period.start + week and market.dates[-1] >= period.end - week)


def twin_market(start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                vol_method: str = "ewma", vrp_ratio: float = VRP_RATIO, source: str = "embedded",
                data_dir: str | None = None, cache_dir: str | None = None,
                cash_rate: float | None = None) -> OptionMarket:
    """The playbooks' option market (backtests.market.prepare_market; embedded data by default),
    cut to start..end. The volatility proxy is computed on all history up to `end` and only then cut, so
    a later --start does not restart the GARCH warm-up (it uses nothing after each session).
    """
    from backtests.market import MarketSpec, prepare_market

    spec = MarketSpec(source=source, data_dir=data_dir, cache_dir=cache_dir, end=end, vol_method=vol_method,
                      vrp_ratio=vrp_ratio, cash_rate=cash_rate)
    options = prepare_market(spec).options
    if start is None:
        return options
    keep = options.dates >= start
    if keep.sum() < 2:
        raise RunError(f"no sessions of the {source} S&P 500 from {start:%Y-%m-%d}; "
                       f"it ends at {options.dates[-1]:%Y-%m-%d}")
    return cut_market(options, keep)


def cut_market(market: OptionMarket, keep: np.ndarray) -> OptionMarket:
    """The same market on the sessions where `keep` is True (arrays cut, everything else shared)."""
    return market.cut(keep)


# --- the table ------------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else "-"


def _figure(rule: CheckRule, value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if rule.measure == "return_gap":
        return f"{value * 100:+.2f} pp"
    if rule.measure in ("cagr", "benchmark_cagr"):
        return f"{value * 100:+.2f} pp" if signed else f"{value:.2%}"
    if rule.measure == "vix_gap":
        return f"{value:+.1f}"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _band(rule: CheckRule) -> str:
    if not rule.has_band:
        return "-"
    if rule.measure == "return_gap":
        low, high = (f"{x * 100:+.1f}" for x in (rule.low, rule.high))
        return f"{low} to {high} pp"
    if rule.measure in ("cagr", "benchmark_cagr"):
        return f"{rule.low:.2%} - {rule.high:.2%}"
    if rule.low is None:
        return f"below {rule.high:.2f}"
    return f"{rule.low:.2f} - {rule.high:.2f}"


def format_report(report: BenchmarkReport) -> str:
    """The report as aligned text: the performance table, then one line per check."""
    model = {"ewma": "EWMA (0.94)", "garch": "GARCH(1,1)",
             "realized": "trailing 21-session"}[report.vol_method]
    lines = [
        f"{INDEX_NAMES[report.index]} twin vs S&P 500, {report.first:%Y-%m-%d} to {report.last:%Y-%m-%d}, "
        f"{report.rolls} monthly rolls",
        f"total return (the S&P 500's trailing dividend yield added to both); implied vol: a VIX level (VIX "
        f"where it exists, else a causal bias-corrected {model} forecast of the month's realised vol "
        f"x {report.vrp_ratio:.3f}) turned into the smile's at-the-money vol; option fills at the model mid",
        "",
        f"{'':<18}{'CAGR':>8}{'Vol':>8}{'Max DD':>9}{'Sharpe':>8}",
    ]
    for name, figures in report.figures.items():
        lines.append(f"{name:<18}{_pct(figures['cagr']):>8}{_pct(figures['volatility']):>8}"
                     f"{_pct(figures['max_drawdown']):>9}{figures['sharpe']:>8.2f}")
    note = f"Sharpe over the T-bill account's {report.cash_rate:.2%} a year"
    if report.costs is not None:
        note += (f"; with costs: option spread {report.costs.spread_vol * 100:g} vol points wide at "
                 f"{report.costs.reference_vol:.0%} vol (x (vol / {report.costs.reference_vol:.0%})^2), "
                 f"{report.costs.min_tick:g} tick, {report.costs.commission_per_contract:g} a contract")
    lines.append(f"({note}; the bands judge the twin without costs)")
    lines.append("")
    header = f"{'check':<66}{'twin':>10}{'published':>11}{'diff':>11}  {'band':<16}{'status':<6}"
    lines.append(header)
    for check in report.checks:
        rule = check.rule
        lines.append(
            f"{rule.label:<66}{_figure(rule, check.value):>10}{_figure(rule, rule.published):>11}"
            f"{_figure(rule, check.difference, signed=True):>11}  {_band(rule):<16}{check.status:<6}"
        )
    if report.vix_gaps is not None and len(report.vix_gaps):
        lines.append("proxy VIX-equivalent - published VIX average, by year: " + ", ".join(
            f"{year} {gap:+.1f}" for year, gap in report.vix_gaps.items()))
    lines.append("")
    lines.append("published figures:")
    for check in report.checks:
        lines.append(f"  {check.rule.label}: {check.rule.source}")
    return "\n".join(line.rstrip() for line in lines)
