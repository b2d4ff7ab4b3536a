"""Synthetic twins of Cboe's BXM, PPUT, CLL and PUT indices on our option engine.

- Acceptance: every tolerance band of /work/shared/references/cboe-benchmarks.md, on the full
  1999-2018 embedded data. A band the twin misses is an xfail(strict=True) whose reason holds the
  measured value: the miss is a finding about the volatility proxy, not something to tune away (see
  the twins README section for the diagnosis).
- Hand checks: one month of BXM on a small synthetic market, from `strategies.options.price` and
  `smile_vol` (not the book's own quote path); the PUT's collateral rule; the strike and expiry rules
  of every roll; each relation against an independent numpy computation.
- No look-ahead: the index, volatility and rate perturbed after session t leave the twin's values
  and decisions up to t unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import data
from backtests.cboe_twins import (
    INDICES,
    IV_RULE,
    PERIOD_RULES,
    PUBLISHED_VIX,
    RULES,
    SPX,
    Check,
    benchmark_report,
    cut_market,
    format_report,
    iv_ratio,
    measure,
    run_twin,
    vix_year_gaps,
    worst_month,
)
from backtests.errors import RunError
from backtests.optionbook import OptionMarket
from cli import main
from strategies.options import OptionCosts, greeks, price
from strategies.volsurface import smile_vol, vix_of_atm

pytestmark = pytest.mark.filterwarnings(
    "ignore:Series.values returning an ndarray that drops timezone:pandas.errors.Pandas4Warning"
)


@pytest.fixture(scope="module")
def full_market(embedded_market):
    return embedded_market.options


@pytest.fixture(scope="module")
def full_twin(full_market):
    """The zero-cost twin of an index on the default span (1999-01-04 to 2018-11-30), run once per module."""
    cache = {}

    def get(index):
        if index not in cache:
            cache[index] = run_twin(index, full_market)
        return cache[index]

    return get


def rule_of(index, name):
    return next(rule for rule in RULES[index] if rule.measure == name)


# --- acceptance: the references' tolerance bands on 1999-2018 --------------------------------------

# Measured with the default proxy (VIX 2014-2018, GARCH x 1.28 before, both read as a VIX level and
# turned into the at-the-money vol of our smile), zero costs. The one miss: the twin's short calls
# still collect more than they pay out over 1999-2018, see the README section.
BANDS = [
    ("bxm", "vol_ratio"),
    pytest.param("bxm", "return_gap", marks=pytest.mark.xfail(
        strict=True, reason="measured +3.34 pp a year (band -2.5 to +2.5; +4.72 before the bias-corrected "
                            "proxy): the at-the-money calls are rich against what they paid out")),
    ("bxm", "drawdown_ratio"),
    ("pput", "return_gap"),
    ("pput", "vol_ratio"),
    ("pput", "drawdown_ratio"),
    ("put", "vol_ratio"),
]


def test_every_band_of_the_references_is_checked():
    banded = {(index, rule.measure) for index in INDICES for rule in RULES[index] if rule.has_band}
    listed = {tuple(p.values) if hasattr(p, "values") else p for p in BANDS}
    assert listed == banded


@pytest.mark.parametrize(("index", "name"), BANDS)
def test_twin_meets_the_published_band(index, name, full_twin):
    check = Check(rule_of(index, name), measure(name, full_twin(index)))
    assert check.status == "PASS", f"{index} {name} = {check.value:.4f}"


def test_iv_proxy_meets_the_published_band(full_market):
    check = Check(IV_RULE, iv_ratio(full_market))
    assert check.status == "PASS", f"iv ratio = {check.value:.4f}"


def test_iv_ratio_matches_an_independent_computation(full_market):
    close = pd.Series(full_market.close, index=full_market.dates)
    squares = np.log(close).diff() ** 2
    forward = np.sqrt(252 * squares.rolling(21).mean().shift(-21))  # returns t+1 .. t+21
    model = pd.Series(full_market.vol_source, index=full_market.dates).isin(["ewma", "garch", "realized"])
    use = model & forward.notna()
    # the VIX level of each session's smile, by Cboe's formula on our smile
    expected = vix_of_atm(full_market.atm_vol[use.to_numpy()]).mean() / forward[use].mean()
    assert iv_ratio(full_market) == pytest.approx(expected, rel=1e-12)
    assert use.sum() > 3000  # 1999-2013 less the warm-up year and the last month


# --- the same sessions as a published figure ------------------------------------------------------

PUT_0615 = [rule for rule in PERIOD_RULES if rule.index == "put"]


@pytest.fixture(scope="module")
def put_0615(full_market):
    keep = (full_market.dates >= "2006-01-01") & (full_market.dates <= "2015-12-31")
    return run_twin("put", cut_market(full_market, keep))


@pytest.mark.parametrize("period", [
    pytest.param(PUT_0615[0], marks=pytest.mark.xfail(
        strict=True, reason="measured 8.72% a year vs the published 6.59% (band 5.09% - 8.09%): the "
                            "proxy's puts are still rich in 2008-2009, when a realised-vol forecast x 1.278 "
                            "sits 10 and 4 points above the VIX of those years (VIX under realised vol)")),
    PUT_0615[1],
], ids=["put-2006-2015", "sp500-leg-2006-2015"])
def test_put_twin_on_the_published_2006_2015_sessions(period, put_0615):
    check = Check(period.rule(), measure(period.measure, put_0615))
    assert check.status == "PASS", f"{period.measure} = {check.value:.4%}"


def test_the_put_2006_2015_figures_are_the_twins_cagr_on_those_sessions(put_0615, full_market):
    assert put_0615.returns.index[0] == pd.Timestamp("2006-01-20")  # the first roll of 2006
    assert put_0615.returns.index[-1] == pd.Timestamp("2015-12-31")
    assert measure("cagr", put_0615) == pytest.approx(_cagr(put_0615.returns.to_numpy()), rel=1e-9)
    sp500 = _cagr(put_0615.benchmark.to_numpy())
    assert measure("benchmark_cagr", put_0615) == pytest.approx(sp500, rel=1e-9)
    # the full-range report judges the same sessions as the 2006-2015 run
    report = benchmark_report("put", full_market, with_costs=None)
    period = {c.rule.measure: c.value for c in report.checks if c.rule.measure in ("cagr", "benchmark_cagr")}
    assert period == {name: measure(name, put_0615) for name in ("cagr", "benchmark_cagr")}
    # other twins, and runs that do not span 2006-2015, get no such line
    short = cut_market(full_market, full_market.dates >= "2010-01-01")
    for report in (benchmark_report("bxm", full_market, with_costs=None),
                   benchmark_report("put", short, with_costs=None)):
        assert not any(c.rule.measure == "cagr" for c in report.checks)


def test_vix_year_gaps_match_pandas(full_market):
    gaps = vix_year_gaps(full_market)
    frame = pd.DataFrame({"vix": 100 * vix_of_atm(full_market.atm_vol), "source": full_market.vol_source},
                         index=full_market.dates)
    by_year = frame.groupby(frame.index.year)
    whole_model = by_year["source"].agg(lambda s: s.isin(["ewma", "garch", "realized"]).all())
    years = [y for y in PUBLISHED_VIX if y in whole_model.index and whole_model[y]]
    assert list(gaps.index) == years and years[0] == 1999 and years[-1] == 2013  # warm from the 1990 history
    for year in years:
        assert gaps[year] == pytest.approx(by_year["vix"].mean()[year] - PUBLISHED_VIX[year], rel=1e-12)


def _max_drawdown(returns):
    wealth = np.cumprod(1 + returns)
    return float(np.min(wealth / np.maximum(np.maximum.accumulate(wealth), 1.0) - 1))


def _cagr(returns):
    return float(np.prod(1 + returns) ** (252 / len(returns)) - 1)


@pytest.mark.parametrize("index", INDICES)
def test_relations_match_an_independent_computation(index, full_twin):
    twin = full_twin(index)
    assert twin.returns.index.equals(twin.benchmark.index)
    mine, sp = twin.returns.to_numpy(), twin.benchmark.to_numpy()
    assert measure("vol_ratio", twin) == pytest.approx(np.std(mine, ddof=1) / np.std(sp, ddof=1), rel=1e-12)
    assert measure("return_gap", twin) == pytest.approx(_cagr(mine) - _cagr(sp), rel=1e-10)
    drawdowns = _max_drawdown(mine) / _max_drawdown(sp)
    assert measure("drawdown_ratio", twin) == pytest.approx(drawdowns, rel=1e-12)
    monthly = lambda r: ((1 + r).groupby(r.index.to_period("M")).prod() - 1).min()  # noqa: E731
    assert measure("worst_month_ratio", twin) == pytest.approx(
        monthly(twin.returns) / monthly(twin.benchmark), rel=1e-9)


def test_benchmark_is_the_price_index_plus_the_dividend_yield(full_twin, full_market):
    twin = full_twin("put")
    first = full_market.index_of(twin.benchmark.index[0])
    days = np.diff(full_market.dates[first:].values).astype("timedelta64[D]").astype(float)
    price_only = twin.benchmark.to_numpy().copy()
    price_only[1:] -= full_market.div_yield[first:-1] * days / 365  # the yield known the close before
    bought_at_the_open = full_market.close[-1] / full_market.fill_level(first)
    assert np.prod(1 + price_only) == pytest.approx(bought_at_the_open, rel=1e-10)
    # the first expiry: the volatility proxy is warm from the 1990 history before the 1999 start
    assert twin.benchmark.index[0] == pd.Timestamp("1999-01-15")


# --- hand checks ------------------------------------------------------------------------------------


def synthetic_market(sessions=30):
    """A rising index (0.4% a session, opening 0.2% under the previous close), volatility and rate
    that change every session (so a wrong day's figure shows), expiries at sessions 3 and 23."""
    dates = pd.bdate_range("2021-01-04", periods=sessions)
    close = 3000.0 * 1.004 ** np.arange(sessions)
    open_ = np.concatenate(([2995.0], close[:-1] * 0.998))
    return OptionMarket(
        dates=dates, open=open_, close=close, atm_vol=0.18 + 0.002 * np.arange(sessions),
        rate=0.03 + 0.0005 * np.arange(sessions),
        expiries=pd.DatetimeIndex([dates[3], dates[23], dates[-1] + pd.Timedelta(days=30)]),
    )


def test_one_month_of_bxm_by_hand():
    m = synthetic_market()
    twin = run_twin("bxm", m)
    q = m.div_yield
    value = twin.daily["value"]

    def call(spot, strike, expiry, day, known):
        """Model call at session `day` with the volatility and rate known at session `known`."""
        years = (expiry - m.dates[day]).days / 365
        vol = smile_vol(m.atm_vol[known], spot, strike, years, m.skew)
        return price("call", spot, strike, years, vol, m.rate[known], q)

    def accrue(cash, units, i):
        days = (m.dates[i] - m.dates[i - 1]).days
        return cash + cash * m.rate[i - 1] * days / 365 + units * m.close[i - 1] * q * days / 365

    decision, roll, next_roll = 2, 3, 23
    first_expiry, second_expiry = m.expiries[1], m.expiries[2]
    strike = math.ceil(m.close[decision] / 5) * 5  # the grid strike just above the index
    units = 1e6 / (m.close[decision] - call(m.close[decision], strike, first_expiry, decision, decision))
    cash = accrue(1e6, 0.0, roll) - units * m.open[roll]
    cash += units * call(m.open[roll], strike, first_expiry, roll, decision)  # premium at the open
    assert value.iloc[0] == 1e6
    expected = units * m.close[roll] + cash - units * call(m.close[roll], strike, first_expiry, roll, roll)
    assert value[m.dates[roll]] == pytest.approx(expected, rel=1e-12)

    for i in range(roll + 1, next_roll):
        cash = accrue(cash, units, i)
    last = next_roll - 1
    before = units * m.close[last] + cash - units * call(m.close[last], strike, first_expiry, last, last)
    assert value[m.dates[last]] == pytest.approx(before, rel=1e-12)

    # the roll: the old call settles at the open (deep in the money here), the new one sells there
    settlement = m.open[next_roll] - strike
    assert settlement > 200
    cash = accrue(cash, units, next_roll) - units * settlement
    new_strike = math.ceil(m.close[last] / 5) * 5
    new_units = before / (m.close[last] - call(m.close[last], new_strike, second_expiry, last, last))
    cash += -(new_units - units) * m.open[next_roll]
    cash += new_units * call(m.open[next_roll], new_strike, second_expiry, next_roll, last)
    expected = (new_units * m.close[next_roll] + cash
                - new_units * call(m.close[next_roll], new_strike, second_expiry, next_roll, next_roll))
    assert value[m.dates[next_roll]] == pytest.approx(expected, rel=1e-12)
    assert twin.daily["units"][m.dates[next_roll]] == pytest.approx(new_units, rel=1e-12)
    # every option cash flow went through the book: two sales, one settlement
    assert twin.fills["reason"].tolist() == ["bxm roll", "expiry", "bxm roll"]
    assert twin.fills["price"].iloc[1] == pytest.approx(settlement, rel=1e-12)


def test_put_is_sized_to_be_fully_cash_secured(full_twin, full_market):
    twin = full_twin("put")
    assert (twin.daily["units"] == 0).all()
    assert twin.daily["cash"].min() > 0
    market = full_market
    for row in twin.rolls.itertuples():
        (contract, contracts), = row.positions.items()
        assert contract.kind == "put" and contracts < 0
        i = market.index_of(row.decision)
        assert contract.strike == 5 * math.floor(market.close[i] / 5 + 0.5)  # the nearest grid strike
        growth = 1 + market.rate[i] * (contract.expiry - row.roll).days / 365
        owed = -contracts * SPX.units_per_contract * contract.strike
        # the sizing rule at the decision close: (value + premium) grown to expiry = n K ...
        premium = -contracts * SPX.units_per_contract * market.quote(contract, i).mid
        assert (row.value + premium) * growth == pytest.approx(owed, rel=1e-12)
        # ... and after the fill at the next open, within what the overnight move can shift
        if row.roll in twin.daily.index:
            assert twin.daily["cash"][row.roll] * growth == pytest.approx(owed, rel=0.02)


@pytest.mark.parametrize("index", INDICES)
def test_every_roll_follows_the_index_rules(index, full_twin, full_market):
    twin = full_twin(index)
    expiries = full_market.expiries
    cross_rolls = 0
    previous_put = None
    for row in twin.rolls.itertuples():
        spot = full_market.close[full_market.index_of(row.decision)]
        after = expiries[expiries > row.roll]
        assert full_market.dates[full_market.index_of(row.decision) + 1] == row.roll
        assert row.roll in expiries
        calls = {c: n for c, n in row.positions.items() if c.kind == "call"}
        puts = {c: n for c, n in row.positions.items() if c.kind == "put"}
        if index != "put":
            (contracts,) = set(abs(n) for n in row.positions.values())
            assert row.units == contracts * SPX.units_per_contract
        if index == "bxm":
            ((call, n),) = calls.items()
            assert n < 0 and call.expiry == after[0] and call.strike == 5 * math.ceil(spot / 5)
        if index == "pput":
            ((put, n),) = puts.items()
            assert n > 0 and put.expiry == after[0] and put.strike == 5 * math.floor(0.95 * spot / 5)
        if index == "cll":
            ((call, n_call),), ((put, n_put),) = calls.items(), puts.items()
            assert n_call < 0 < n_put and call.expiry == after[0]
            assert call.strike == 5 * math.ceil(1.10 * spot / 5)
            if row.roll.month in (3, 6, 9, 12):
                assert put.expiry == after[2] and put.strike == 5 * math.floor(0.95 * spot / 5)
            elif put != previous_put:
                cross_rolls += 1
                assert call.strike < previous_put.strike and put.expiry == previous_put.expiry
            previous_put = put
    assert len(twin.rolls) >= 237  # monthly from 1999-03 at the latest to 2018-11 (the default span)
    if index == "cll":
        assert twin.rolls["roll"].iloc[0].month in (3, 6, 9, 12)
        assert cross_rolls <= 3  # a call struck below the put needs a fall of about 14% in a quarter
    if index == "bxm":
        # sized at the decision close, the buy-write is a little in debit after an overnight rise (the
        # book fills a fully covered call whatever the cash); never by more than a gap's worth, or a
        # session's move where the roll session has no real open and the roll fills at its close
        ratio = twin.daily["cash"] / twin.daily["value"]
        assert -0.02 < ratio.min() < 0 and not twin.fills["reason"].str.startswith("rejected").any()


def test_costs_lower_the_twin_by_what_the_fills_paid(full_market):
    keep = (full_market.dates >= "2016-01-01") & (full_market.dates <= "2016-12-31")
    market = cut_market(full_market, keep)
    free = run_twin("pput", market)
    costs = OptionCosts()
    paid = run_twin("pput", market, costs)
    bought = paid.fills[paid.fills["reason"] == "pput roll"]
    assert len(bought) == len(paid.rolls) == 12
    assert (bought["commission"] == costs.commission_per_contract * bought["quantity"]).all()
    # the spread: half of vega x 0.5 vol points x (vol / 20%)^2 (or half a 0.05 tick) per index point,
    # with the vega of the fill's own quote (held to the closed form of strategies.options.greeks)
    half = bought["slippage"] / (bought["quantity"] * SPX.multiplier)
    vol = bought["implied_vol"].to_numpy()
    at = market.dates.get_indexer(bought["date"])
    years = (pd.DatetimeIndex(bought["expiry"]) - pd.DatetimeIndex(bought["date"])).days.to_numpy() / 365.0
    dividend = np.broadcast_to(market.div_yield, market.dates.shape)[at - 1]  # a constant or per session
    vega = greeks("put", market.open[at], bought["strike"].to_numpy(), years, vol, market.rate[at - 1],
                  dividend)["vega"]
    np.testing.assert_allclose(bought["vega"].to_numpy(), vega, rtol=1e-9)
    expected = np.maximum(0.5 * vega * 0.005 * (vol / 0.20) ** 2, 0.025)
    assert half.to_numpy() == pytest.approx(expected, rel=1e-9)
    assert (expected > 0.025).all()  # the vol rule, not the tick, set every one of these
    assert free.fills["commission"].sum() == 0 and free.fills["slippage"].sum() == 0
    # a twin scales with its value, so each cost paid at a roll is lost with the growth after it
    value = free.daily["value"]
    spent = (bought["commission"] + bought["slippage"]).to_numpy()
    compounded = float(np.sum(spent * value.iloc[-1] / value[bought["date"]].to_numpy()))
    lost = value.iloc[-1] - paid.daily["value"].iloc[-1]
    assert spent.sum() < lost
    assert lost == pytest.approx(compounded, rel=0.02)  # costs are paid at the open, valued at the close


# --- no look-ahead ----------------------------------------------------------------------------------


def perturbed_after(market: OptionMarket, t: int, seed: int = 0) -> OptionMarket:
    """The same market with every index level, volatility and rate after session t scrambled."""
    rng = np.random.default_rng(seed)
    later = len(market.dates) - t - 1
    level = rng.uniform(0.7, 1.3, later)
    names = ("open", "close", "atm_vol", "rate")
    arrays = {name: np.array(getattr(market, name), dtype=float) for name in names}
    arrays["open"][t + 1:] *= level
    arrays["close"][t + 1:] *= level * rng.uniform(0.97, 1.03, later)
    arrays["atm_vol"][t + 1:] *= rng.uniform(0.5, 2.0, later)
    arrays["rate"][t + 1:] += 0.01
    return OptionMarket(dates=market.dates, expiries=market.expiries, div_yield=market.div_yield,
                        skew=market.skew, vol_source=market.vol_source, real_open=market.real_open,
                        **arrays)


@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("day", ["2008-09-18", "2008-10-10"])  # a roll decision close; an ordinary day
def test_no_look_ahead(index, day, full_market):
    keep = (full_market.dates >= "2007-01-01") & (full_market.dates <= "2009-12-31")
    base = cut_market(full_market, keep)
    t = base.index_of(pd.Timestamp(day))
    twin = run_twin(index, base)
    other = run_twin(index, perturbed_after(base, t))
    pd.testing.assert_frame_equal(twin.daily.loc[:day], other.daily.loc[:day], check_exact=True)
    decided = twin.rolls["decision"] <= day
    assert twin.rolls[decided]["contracts"].tolist() == other.rolls[decided]["contracts"].tolist()
    assert not np.allclose(twin.daily["value"].loc[day:].iloc[1:], other.daily["value"].loc[day:].iloc[1:])


# --- errors and the command line --------------------------------------------------------------------


def test_user_errors_name_the_culprit():
    m = synthetic_market()
    with pytest.raises(RunError, match="unknown Cboe index 'bxw'"):
        run_twin("bxw", m)
    early = cut_market(m, np.arange(len(m.dates)) < 3)  # ends before the first expiry session
    with pytest.raises(RunError, match="no PPUT roll between 2021-01-04 and 2021-01-06"):
        run_twin("pput", early)
    gap = cut_market(m, np.arange(len(m.dates)) != 23)  # the data skip the second expiry session
    with pytest.raises(RunError, match="no bar on the option expiry session 2021-02-04"):
        run_twin("pput", gap)


def test_worst_month_is_the_worst_calendar_month():
    r = pd.Series([-0.1, 0.5, -0.2, -0.2], index=pd.to_datetime(["2020-01-31", "2020-02-03",
                                                                  "2020-02-28", "2020-03-02"]))
    assert worst_month(r) == pytest.approx(-0.2, abs=1e-12)  # Feb: 1.5 * 0.8 - 1 = +0.2; March -0.2
    assert worst_month(r.iloc[:1]) == pytest.approx(-0.1)


def test_cli_prints_the_report_of_the_library(full_market):
    result = CliRunner().invoke(main, ["options", "benchmark", "--index", "pput",
                                       "--start", "2016-01-01", "--end", "2018-11-30"])
    assert result.exit_code == 0, result.output
    keep = (full_market.dates >= "2016-01-01") & (full_market.dates <= "2018-11-30")
    expected = format_report(benchmark_report("pput", cut_market(full_market, keep), "ewma"))
    assert result.output == expected + "\n"
    lines = result.output.splitlines()
    assert lines[0].startswith("PPUT (5% Put Protection) twin vs S&P 500, 2016-01-15 to 2018-11-30")
    assert [line.split()[0] for line in lines[4:7]] == ["twin", "twin", "S&P"]
    statuses = [line.split()[-1] for line in lines if line.endswith(("PASS", "MISS", "n/a", "info"))]
    assert statuses[-1] == "n/a"  # from 2016 the proxy is VIX: no model-priced sessions to judge


def test_cli_uses_vix_wherever_the_source_has_it(tmp_path):
    # a csv folder holding the embedded S&P 500 and a VIX for 2005-2016 (constant 18: a stand-in for
    # the published series --source yahoo would load): every 2006-2015 session is then priced by VIX
    from backtests.cboe_twins import twin_market
    from strategies.volsurface import atm_from_vix

    spy = data.load(["SPY"], None, None)["SPY"]
    frame = spy.rename(columns={"open": "Open", "high": "High", "low": "Low", "close": "Close",
                                "adj_close": "Adj Close", "volume": "Volume"})
    frame.index.name = "Date"
    frame.to_csv(tmp_path / "SPY.csv")
    vix = frame.loc["2005-01-01":"2016-12-31", ["Open", "High", "Low", "Close", "Adj Close"]] * 0 + 18.0
    vix.assign(Volume=0).to_csv(tmp_path / "VIX.csv")
    market = twin_market(pd.Timestamp("2006-01-01"), pd.Timestamp("2015-12-31"), source="csv",
                         data_dir=str(tmp_path))
    assert (market.vol_source == "vix").all()
    np.testing.assert_allclose(market.atm_vol, atm_from_vix(0.18))
    result = CliRunner().invoke(main, ["options", "benchmark", "--index", "put", "--start", "2006-01-01",
                                       "--end", "2015-12-31", "--source", "csv", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output == format_report(benchmark_report("put", market)) + "\n"
    lines = {line.split("  ")[0]: line for line in result.output.splitlines()}
    assert lines["mean VIX-equivalent of the proxy / mean realised vol (model, not VIX)"].endswith("n/a")
    assert "PUT annualised return, 2006-2015 (same sessions)" in lines


@pytest.mark.parametrize(("args", "message"), [
    (["--index", "pput", "--start", "2018-01-01", "--end", "2017-01-01"], "swap them"),
    (["--index", "bxw"], "'bxw' is not one of"),
    (["--index", "put", "--start", "2018-13-01"], "is not a date"),
    (["--index", "put", "--source", "csv"], "needs a folder"),
])
def test_cli_user_errors_exit_2_with_one_line(args, message):
    result = CliRunner().invoke(main, ["options", "benchmark", *args])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
