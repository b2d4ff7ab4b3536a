"""backtests.metrics against two independent references: hand arithmetic on tiny series, and quantstats'
own functions on the same returns (the tearsheet's numbers), so our table and the tearsheet agree.

quantstats 0.0.86 conventions, read from quantstats/stats.py: CAGR takes years = number of returns /
periods (sessions / 252), not calendar days / 365 as quantstats up to 0.0.64 did; volatility and Sharpe
use the sample std (ddof=1); rf is de-annualised geometrically, (1 + rf) ** (1/252) - 1; Sortino divides
by sqrt(sum(negative excess ** 2) / N) over all N returns; max drawdown starts from equity 1.0 before the
first return. Our module follows each, so the comparisons hold to rounding (rtol 1e-10).
"""

from __future__ import annotations

import dataclasses
import math
import statistics

import matplotlib
import numpy as np
import pandas as pd
import pytest
from synthetic_runs import (
    COSTS,
    OPEN_PNL_NET,
    PACKAGE_PNL_NET,
    TRADE_PNL_NET,
    TRADED_VALUE,
    make_run,
    sessions,
)

from backtests import metrics
from backtests.errors import RunError
from backtests.metrics import (
    ROWS,
    WINDOW_ROWS,
    assign_packages,
    book_exposure,
    format_table,
    metrics_table,
    packages,
    performance,
    realised_tax,
    summary,
    trade_stats,
    turnover,
)

with matplotlib.rc_context():  # quantstats sets the process-wide font to Arial on import; keep it here
    import quantstats as qs

ROOT_YEAR = math.sqrt(252)


def daily(values, start="2018-01-02"):
    return pd.Series(values, index=sessions(len(values), start), dtype=float)


# --- hand computations -------------------------------------------------------------------------------


def test_tiny_series_by_hand():
    figures = performance(daily([0.1, -0.05, 0.02]))
    # equity 1.1, 1.045, 1.0659: total +6.59%; worst fall 1.045 / 1.1 - 1 = -5%
    assert figures["total_return"] == pytest.approx(1.1 * 0.95 * 1.02 - 1, rel=1e-12)
    assert figures["total_return"] == pytest.approx(0.0659, rel=1e-12)
    assert figures["max_drawdown"] == pytest.approx(-0.05, rel=1e-12)
    assert figures["best_day"] == 0.1 and figures["worst_day"] == -0.05
    # three sessions are 3/252 of a year
    assert figures["cagr"] == pytest.approx(1.0659 ** (252 / 3) - 1, rel=1e-12)
    sample_std = statistics.stdev([0.1, -0.05, 0.02])
    assert sample_std == pytest.approx(math.sqrt((0.0766667**2 + 0.0733333**2 + 0.0033333**2) / 2), rel=1e-5)
    assert figures["volatility"] == pytest.approx(sample_std * ROOT_YEAR, rel=1e-12)
    mean = 0.07 / 3
    assert figures["sharpe"] == pytest.approx(mean / sample_std * ROOT_YEAR, rel=1e-12)
    assert figures["sharpe"] == pytest.approx(4.935, abs=1e-3)
    # downside deviation: only the -5% day is below zero, divided by all three sessions
    assert figures["sortino"] == pytest.approx(mean / math.sqrt(0.05**2 / 3) * ROOT_YEAR, rel=1e-12)
    assert figures["calmar"] == pytest.approx(figures["cagr"] / 0.05, rel=1e-12)


def test_max_drawdown_by_hand():
    # equity 1.1, 1.045, 0.9405, 1.1286: from the 1.1 peak down to 0.9405 is -14.5%
    assert performance(daily([0.1, -0.05, -0.1, 0.2]))["max_drawdown"] == pytest.approx(-0.145, rel=1e-12)
    # a loss on the first day counts from the starting equity of 1.0: 0.9, 0.945, 0.8505
    assert performance(daily([-0.1, 0.05, -0.1]))["max_drawdown"] == pytest.approx(-0.1495, rel=1e-12)
    assert metrics.drawdown_series(daily([-0.1, 0.05, -0.1])).tolist() == pytest.approx(
        [-0.1, -0.055, -0.1495]
    )


def test_risk_free_rate_is_deannualised_geometrically():
    returns = daily([0.01, -0.004, 0.006, 0.002])
    rf_daily = 1.05 ** (1 / 252) - 1
    excess = [r - rf_daily for r in returns]
    figures = performance(returns, rf=0.05)
    assert figures["sharpe"] == pytest.approx(statistics.mean(excess) / statistics.stdev(excess) * ROOT_YEAR)
    downside = math.sqrt(sum(min(e, 0.0) ** 2 for e in excess) / 4)
    assert figures["sortino"] == pytest.approx(statistics.mean(excess) / downside * ROOT_YEAR)
    # rf leaves growth and risk figures alone
    assert figures["cagr"] == performance(returns)["cagr"]
    assert figures["volatility"] == performance(returns)["volatility"]


def test_ratios_without_a_denominator_are_nan():
    flat = performance(daily([0.0] * 10))
    assert flat["total_return"] == 0.0 and flat["max_drawdown"] == 0.0
    assert math.isnan(flat["sharpe"]) and math.isnan(flat["sortino"]) and math.isnan(flat["calmar"])
    rising = performance(daily([0.01, 0.02, 0.005]))
    assert math.isnan(rising["sortino"]) and math.isnan(rising["calmar"])
    assert rising["sharpe"] > 0
    assert math.isnan(performance(daily([0.01]))["volatility"])


def test_bad_returns_are_refused_naming_the_date():
    with pytest.raises(RunError, match="empty"):
        performance(pd.Series([], dtype=float))
    returns = daily([0.01, np.nan, 0.02])
    with pytest.raises(RunError, match="2018-01-03"):
        performance(returns)


# --- against quantstats -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_returns():
    """About twenty years of daily returns with fat tails, on weekdays (gaps over weekends do not
    change anything: both sides count returns, not days)."""
    rng = np.random.default_rng(20181231)
    values = rng.standard_t(4, 5000) * 0.008 + 0.0003
    return daily(values, start="1999-01-04")


@pytest.mark.parametrize("rf", [0.0, 0.03])
def test_matches_quantstats(long_returns, rf):
    ours = performance(long_returns, rf=rf)
    assert ours["cagr"] == pytest.approx(qs.stats.cagr(long_returns, periods=252), rel=1e-10)
    assert ours["volatility"] == pytest.approx(qs.stats.volatility(long_returns, periods=252), rel=1e-10)
    assert ours["sharpe"] == pytest.approx(qs.stats.sharpe(long_returns, rf=rf, periods=252), rel=1e-10)
    assert ours["sortino"] == pytest.approx(qs.stats.sortino(long_returns, rf=rf, periods=252), rel=1e-10)
    assert ours["max_drawdown"] == pytest.approx(qs.stats.max_drawdown(long_returns), rel=1e-10)
    assert ours["calmar"] == pytest.approx(qs.stats.calmar(long_returns, periods=252), rel=1e-10)
    assert ours["total_return"] == pytest.approx(qs.stats.comp(long_returns), rel=1e-10)
    assert ours["best_day"] == qs.stats.best(long_returns) and ours["worst_day"] == qs.stats.worst(
        long_returns
    )


def test_matches_quantstats_when_the_first_day_loses(long_returns):
    returns = long_returns.copy()
    returns.iloc[0] = -0.6  # the worst fall starts on day one, from the initial equity of 1.0
    ours = performance(returns)["max_drawdown"]
    assert ours <= -0.6
    assert ours == pytest.approx(qs.stats.max_drawdown(returns), rel=1e-10)


def test_cagr_counts_sessions_not_calendar_days():
    """Same 252 returns, once on consecutive weekdays and once spread over two calendar years: the CAGR
    (ours and quantstats 0.0.86) is the total return both times, because a year is 252 returns."""
    values = np.full(252, 0.0004)
    packed = daily(values)
    spread = pd.Series(values, index=pd.DatetimeIndex(pd.date_range("2018-01-01", periods=252, freq="3D")))
    total = 1.0004**252 - 1
    for returns in (packed, spread):
        assert performance(returns)["cagr"] == pytest.approx(total, rel=1e-12)
        assert qs.stats.cagr(returns) == pytest.approx(total, rel=1e-12)


# --- trades, turnover, costs ------------------------------------------------------------------------


def test_trade_stats_by_hand():
    run = make_run()
    stats = trade_stats(run.trades, run.equity)
    # the headline: three closed packages (+150, +50, -60), one open (the QQQ still held)
    assert stats["packages"] == 3 and stats["packages_open"] == 1
    assert stats["hit_rate"] == pytest.approx(2 / 3)
    assert stats["profit_factor"] == pytest.approx(200 / 60)
    returns = packages(run.trades, run.equity)["return"]
    assert stats["avg_win"] == pytest.approx(returns.iloc[:2].mean())
    assert stats["avg_loss"] == pytest.approx(returns.iloc[2])
    # the legs beside it: stock 1 win in 4, the option leg won
    assert stats["stock_legs"] == 4 and stats["stock_hit_rate"] == pytest.approx(1 / 4)
    assert stats["stock_profit_factor"] == pytest.approx(250 / 185)
    assert stats["option_legs"] == 1 and stats["option_hit_rate"] == 1.0
    assert stats["option_profit_factor"] == math.inf
    # every leg, closed and open, is in the ledger's P&L
    assert stats["ledger_pnl"] == pytest.approx(sum(TRADE_PNL_NET) + OPEN_PNL_NET)


def test_packages_by_hand():
    run = make_run()
    table = packages(run.trades, run.equity)
    assert table["package"].tolist() == [1, 2, 3, 4]
    assert table["pnl_net"].tolist()[:3] == pytest.approx(PACKAGE_PNL_NET)
    assert table["legs"].tolist() == [2, 2, 1, 1]
    assert table["option_legs"].tolist() == [0, 1, 0, 0]
    assert table["instruments"].iloc[1] == "SPY 2015-03-20 P 200 XLE"
    assert table["exit_date"].isna().tolist() == [False, False, False, True]
    # a package's return is on the equity at the close before its first fill
    entry = table["entry_date"].iloc[2]
    base = run.equity[run.equity.index < entry].iloc[-1]
    assert table["return"].iloc[2] == pytest.approx(-60 / base)


def test_packages_join_legs_that_meet_at_one_fill_session():
    """A roll (the old option closes at the open the new one fills at) keeps the book one package; a
    day flat in between splits it."""
    d = pd.to_datetime
    legs = pd.DataFrame({
        "instrument": ["SPY", "P1", "P2", "SPY"], "kind": ["stock", "option", "option", "stock"],
        "entry_date": d(["2020-01-02", "2020-01-02", "2020-01-10", "2020-01-14"]),
        "exit_date": d(["2020-01-10", "2020-01-10", "2020-01-13", None]),
        "pnl_net": [10.0, -4.0, 1.0, 2.0], "return": [0.0] * 4})
    assert assign_packages(legs).tolist() == [1, 1, 1, 2]
    stats = trade_stats(legs, pd.Series([1000.0], index=d(["2020-01-01"])))
    assert stats["packages"] == 1 and stats["packages_open"] == 1 and stats["hit_rate"] == 1.0


def test_trade_stats_edge_cases():
    run = make_run()
    none = trade_stats(run.trades.iloc[0:0])
    assert none["packages"] == 0 and none["stock_legs"] == 0 and none["ledger_pnl"] == 0.0
    assert all(math.isnan(none[k]) for k in ("hit_rate", "avg_win", "avg_loss", "profit_factor"))
    only_wins = trade_stats(run.trades.iloc[[0, 2]], run.equity)
    assert only_wins["profit_factor"] == math.inf and only_wins["hit_rate"] == 1.0
    assert math.isnan(only_wins["avg_loss"])
    with pytest.raises(RunError, match="pnl_net"):
        trade_stats(run.trades.drop(columns="pnl_net"))


def test_turnover_counts_option_contracts_as_100_shares():
    run = make_run(count=504)
    years = 504 / 252
    expected = TRADED_VALUE / run.equity.mean() / years
    assert turnover(run) == pytest.approx(expected, rel=1e-12)
    # the option fills are 1700 of the traded value; without the multiplier they would be 17
    stocks_only = run.orders[run.orders["kind"] == "stock"]
    assert (stocks_only["quantity"].abs() * stocks_only["price"]).sum() == TRADED_VALUE - 1700.0
    assert turnover(dataclasses.replace(run, orders=run.orders.iloc[0:0])) == 0.0


def test_summary_reads_exposure_and_costs():
    run = make_run()
    figures = summary(run)
    assert list(figures) == [key for key, _, _ in ROWS]
    assert figures["stock_weight"] == pytest.approx(float(np.mean(run.exposure.to_numpy())))
    assert figures["net_delta"] == pytest.approx(figures["stock_weight"])  # long stock, no options
    assert figures["option_notional"] == 0.0
    assert figures["costs_paid"] == pytest.approx(12.5 + 30.25 + 8.0 + 4.0)
    assert figures["costs_paid"] == pytest.approx(sum(COSTS.values()))
    # Sharpe over the run's T-bill returns by default; a number is an annual rate instead
    assert figures["sharpe"] == performance(run.returns, rf=run.risk_free)["sharpe"]
    assert summary(run, rf=0.0)["sharpe"] == performance(run.returns)["sharpe"]
    assert figures["sharpe"] < summary(run, rf=0.0)["sharpe"]


def test_book_exposure_keeps_stock_delta_and_notional_apart():
    """Half the equity in stock, hedged by puts of delta -0.4 x equity on a notional of 0.8 x equity:
    stock weight 50%, net delta 10%, option notional 80% (not a mixed 'gross' of 90%)."""
    run = make_run(count=3)
    equity = pd.Series(1000.0, index=run.returns.index)
    positions = pd.DataFrame({"SPY": 500.0, "cash": 500.0, "options": 20.0, "options_delta": -400.0,
                              "options_notional": 800.0}, index=equity.index)
    hedged = dataclasses.replace(run, equity=equity, positions=positions)
    figures = book_exposure(hedged)
    assert figures == pytest.approx({"stock_weight": 0.5, "net_delta": 0.1, "option_notional": 0.8})


def test_sharpe_over_a_varying_rate_matches_quantstats(long_returns):
    """quantstats de-annualises a rate series geometrically; give it the annual rate of each
    session's T-bill return and its Sharpe and Sortino are ours over those per-session returns."""
    rng = np.random.default_rng(7)
    free = pd.Series(rng.uniform(0.0, 3e-4, len(long_returns)), index=long_returns.index)
    annual = (1.0 + free) ** 252 - 1.0
    ours = performance(long_returns, rf=free)
    assert ours["sharpe"] == pytest.approx(qs.stats.sharpe(long_returns, rf=annual, periods=252), rel=1e-9)
    assert ours["sortino"] == pytest.approx(qs.stats.sortino(long_returns, rf=annual, periods=252), rel=1e-9)
    excess = long_returns - free  # and by pandas alone
    assert ours["sharpe"] == pytest.approx(excess.mean() / excess.std() * ROOT_YEAR, rel=1e-12)
    tbills = (1.0 + free).prod() ** (252 / len(free)) - 1.0
    assert ours["excess_cagr"] == pytest.approx(ours["cagr"] - tbills, rel=1e-12)


def test_realised_tax_counts_closed_legs_once():
    run = make_run()
    # closed legs net 250 - 100 + 75 - 25 - 60 = 140; the open QQQ is not realised
    assert realised_tax(run.trades, 0.3) == pytest.approx(0.3 * 140)
    assert realised_tax(run.trades.iloc[[1, 3]], 0.3) == 0.0  # a net loss pays none


# --- the table --------------------------------------------------------------------------------------


def test_metrics_table_layout_and_values():
    momentum, neutral = make_run("momentum", seed=1), make_run("neutral", seed=2)
    # same sessions and the same benchmark series, so one benchmark column serves both
    neutral = dataclasses.replace(neutral, benchmark=momentum.benchmark)
    table = metrics_table([momentum, neutral])
    assert list(table.columns) == ["momentum", "neutral", "benchmark"]
    assert list(table.index.get_level_values("metric")) == [label for _, label, _ in ROWS]
    assert list(table.index.get_level_values("unit")) == [unit for _, _, unit in ROWS]
    sharpe = ("Sharpe (over T-bills)", "ratio")
    assert table.loc[sharpe, "neutral"] == performance(neutral.returns, rf=neutral.risk_free)["sharpe"]
    bench = performance(momentum.benchmark, rf=momentum.risk_free)
    assert table.loc[("CAGR", "fraction/year"), "benchmark"] == bench["cagr"]
    assert table.loc[sharpe, "benchmark"] == bench["sharpe"]
    assert table.loc[("Stock weight (mean gross, % of equity)", "fraction of equity"), "benchmark"] == 1.0
    assert math.isnan(table.loc[("Packages (closed round trips)", "count"), "benchmark"])
    assert table.loc[("Packages (closed round trips)", "count"), "momentum"] == 3
    assert "T-bill" in table.attrs["convention"]


def test_windows_only_table_has_no_annualised_figure():
    """A run stepped through windows: no CAGR, Sharpe, Calmar, volatility or turnover a year; the
    headline is the per-window distribution and its excess over the benchmark on the same windows."""
    run = make_run(count=60)
    run = dataclasses.replace(run, settings={**run.settings, "market": {"window": "year-end"}})
    index = pd.DatetimeIndex(["2015-12-31", "2016-12-30", "2017-12-29", "2018-12-31"], name="event")
    windows = pd.DataFrame({"return": [0.02, -0.01, 0.03, 0.0], "benchmark_return": [0.01, 0.0, 0.01, 0.01],
                            "excess_return": [0.01, -0.01, 0.02, -0.01]}, index=index)
    table = metrics_table(run, windows={"momentum": windows})
    keys = [key for key, _, _ in WINDOW_ROWS]
    assert not set(keys) & set(metrics.ANNUALISED)
    labels = " ".join(table.index.get_level_values("metric"))
    for word in ("CAGR", "Sharpe", "Sortino", "Calmar", "ann.", "Turnover"):
        assert word not in labels
    mean = ("Window return: mean", "fraction/window")
    assert table.loc[mean, "momentum"] == pytest.approx(0.01)
    assert table.loc[("Window hit rate", "fraction"), "momentum"] == 0.5
    assert table.loc[("Window t-stat", "ratio"), "momentum"] == pytest.approx(
        0.01 / (np.std([0.02, -0.01, 0.03, 0.0], ddof=1) / 2))
    assert table.loc[("Excess over benchmark: mean", "fraction/window"), "momentum"] == pytest.approx(0.0025)
    assert table.loc[mean, "benchmark"] == pytest.approx(0.0075)
    assert math.isnan(table.loc[("Excess over benchmark: mean", "fraction/window"), "benchmark"])
    low, high = (table.loc[("Window mean: 95% CI low", "fraction/window"), "momentum"],
                 table.loc[("Window mean: 95% CI high", "fraction/window"), "momentum"])
    assert -0.01 <= low <= 0.01 <= high <= 0.03
    assert "windows-only" in table.attrs["convention"]
    assert set(summary(run, windows=windows)) == set(keys)


def test_metrics_table_names_duplicates_and_separate_benchmarks():
    first, second = make_run("momentum", seed=1), make_run("momentum", seed=2)
    table = metrics_table([first, second])
    assert list(table.columns) == [
        "momentum",
        "momentum (2)",
        "benchmark (momentum)",
        "benchmark (momentum (2))",
    ]
    assert list(metrics_table(first, include_benchmark=False).columns) == ["momentum"]
    with pytest.raises(RunError):
        metrics_table([])


def test_format_table_text():
    table = metrics_table(make_run())
    text = format_table(table)
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "momentum", "benchmark"]
    assert len(lines) == len(ROWS) + 2  # the header, the rows and the convention line
    assert lines[-1] == f"convention: {table.attrs['convention']}"
    width = max(len(label) for _, label, _ in ROWS)
    by_label = {line[:width].strip(): line[width:].split() for line in lines[1:-1]}
    cagr = table.loc[("CAGR", "fraction/year"), "momentum"]
    assert by_label["CAGR"][0] == f"{cagr * 100:.1f}%"
    sharpe = table.loc[("Sharpe (over T-bills)", "ratio"), "momentum"]
    assert by_label["Sharpe (over T-bills)"][0] == f"{sharpe:.2f}"
    assert by_label["Packages (closed round trips)"] == ["3", "-"]
    assert by_label["Package profit factor"] == ["3.33", "-"]
    assert by_label["Costs paid"] == ["55", "-"]
    assert by_label["Turnover"][0].endswith("x")
    assert by_label["Stock weight (mean gross, % of equity)"][1] == "100.0%"


def test_the_benchmark_strategy_keeps_its_column_beside_the_index():
    run = make_run("benchmark")
    table = metrics_table(run)
    assert list(table.columns) == ["benchmark", "benchmark (index)"]
    assert table.loc[("Packages (closed round trips)", "count"), "benchmark"] == 3
