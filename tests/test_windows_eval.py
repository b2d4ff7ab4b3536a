"""Window evaluation: windows-only runs are flat outside windows, the per-window table and the
event-study summary agree with independent pandas computations on the same windows, nothing in a
window's row depends on what came after it, and the playbook's claims are measured as stated."""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from rates import CASH_RATE_ARGS, NOVEMBER_2018_CASH_RATE

import data
from backtests.errors import RunError
from backtests.market import MarketSpec, prepare_market, window_market
from backtests.outputs import load_run
from backtests.regime_eval import realized_regimes
from backtests.runner import RunSettings, run_backtest
from backtests.windows_eval import (
    QUOTED_RANGES,
    TABLE_COLUMNS,
    bootstrap_mean_ci,
    december_returns,
    entry_regime,
    event_stats,
    event_summary,
    playbook_claims,
    read_windows,
    window_returns,
    window_table,
    write_window_table,
)
from cli import main
from data.windows import Window, windows_of_kind

START, END = pd.Timestamp("2015-01-01"), pd.Timestamp("2018-12-31")
PLAYBOOKS = ("momentum", "neutral", "defensive", "playbook")


@pytest.fixture(scope="module")
def market():
    """Triple-witching windows on 2015-2018, every session kept (not stepped)."""
    return prepare_market(MarketSpec(start=START, end=END, window="triple-witching",
                                     cash_rate=NOVEMBER_2018_CASH_RATE))


@pytest.fixture(scope="module")
def neutral_run(market):
    """The neutral playbook windows-only on the stepped market, as `cli.py backtest --window` runs it."""
    return run_backtest(RunSettings("neutral", windows_only=True), window_market(market))


@pytest.fixture(scope="module")
def table(neutral_run, market):
    return window_table(neutral_run, market.windows, market.regime)


@pytest.fixture(scope="module")
def frames():
    return data.load(["SPY", "QQQ"])


def _neighbours(sessions: pd.DatetimeIndex, w: Window) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The session before `first` and the session after `last` (`last` itself when the data end there:
    the measured span is clipped), from the full session index."""
    after = min(sessions.get_loc(w.last) + 1, len(sessions) - 1)
    return sessions[sessions.get_loc(w.first) - 1], sessions[after]


# --- windows-only runs are flat outside windows ---------------------------------------------------------


@pytest.mark.parametrize("strategy", PLAYBOOKS)
def test_windows_only_run_holds_nothing_outside_windows(market, strategy):
    """On the full session index (nothing skipped), a windows-only run has no exposure and no position
    at any close outside [first, last] of a window, and fills only from a window's first session to
    the session after its last (where it sells at the open). The playbook's neutral leg enters by
    limit orders good for two sessions: one still working at a window's last close must be cancelled
    so the exit is not a session late (it was, on 2015-03-30, before strategies/base.py cancelled it)."""
    result = run_backtest(RunSettings(strategy, windows_only=True), market)
    sessions = market.sessions
    inside = pd.Series(False, index=sessions)
    fill_days = pd.Series(False, index=sessions)
    for w in market.windows:
        inside[w.first:w.last] = True
        fill_days[w.first:_neighbours(sessions, w)[1]] = True
    outside = ~inside
    assert outside.sum() > 500  # most sessions lie outside the 16 windows
    exposure = result.exposure.reindex(sessions)
    assert (exposure[outside] == 0).all(), exposure[outside & (exposure != 0)].head()
    held = result.positions.drop(columns="cash").reindex(sessions)
    assert (held[outside].abs().sum(axis=1) == 0).all()
    assert (exposure[inside] > 0).any()  # it did trade inside the windows
    fills = pd.DatetimeIndex(result.orders["date"]).normalize()
    assert fill_days.reindex(fills).all(), fills[~fill_days.reindex(fills).to_numpy()]


def test_a_stepped_run_is_flat_at_the_sessions_around_each_window(neutral_run, market):
    """The stepped market keeps one session either side of a window: the entry close before it and
    the exit open after it. At both closes the run holds nothing."""
    sessions = market.sessions
    around = [day for w in market.windows for day in _neighbours(sessions, w) if day not in (w.first, w.last)]
    assert len(around) == 2 * len(market.windows) - 1  # the data end on the last window's last session
    assert (neutral_run.exposure.reindex(around) == 0).all()
    assert set(around) <= set(neutral_run.returns.index)


# --- the per-window table against pandas -----------------------------------------------------------------


def test_window_table_matches_an_independent_computation(table, neutral_run, market):
    sessions = market.sessions
    spy = market.bars["SPY"]["close"]
    orders = neutral_run.orders.assign(date=pd.to_datetime(neutral_run.orders["date"]))
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == len(market.windows) == 16
    for w in market.windows:
        row = table.loc[w.event]
        before, after = _neighbours(sessions, w)
        span = neutral_run.returns.loc[w.first:after]
        assert len(span) == w.sessions + (after > w.last)
        # the strategy's window return is its equity growth from the entry close to the exit close
        equity = neutral_run.equity
        assert row["return"] == pytest.approx(equity[after] / equity[before] - 1, abs=1e-12)
        assert row["return"] == pytest.approx((1 + span).prod() - 1, abs=1e-12)
        # the benchmark is total return: each session's price return plus SPY's dividend carry
        held = spy.loc[before:after]
        total = held.pct_change().iloc[1:] + market.bars["SPY"]["carry"].loc[held.index[1:]]
        assert row["benchmark_return"] == pytest.approx((1 + total).prod() - 1, abs=1e-12)
        assert row["excess_return"] == pytest.approx(row["return"] - row["benchmark_return"], abs=1e-15)
        wealth = (1 + span).cumprod()
        peak = np.maximum(wealth.cummax(), 1.0)
        assert row["max_drawdown"] == pytest.approx((wealth / peak - 1).min(), abs=1e-12)
        assert row["regime"] == market.regime.loc[before, "label"]
        for name in ("momentum", "range", "selloff"):
            assert row[f"p_{name}"] == pytest.approx(market.regime.loc[before, name], abs=1e-15)
        fills = orders[(orders["date"] >= w.first) & (orders["date"] <= after)]
        assert row["trades"] == len(fills)
        assert row["costs"] == pytest.approx((fills["commission"] + fills["slippage"]).sum(), rel=1e-12)
    # every fill of a windows-only run falls in some window's span, so the table accounts for all costs
    assert table["trades"].sum() == len(orders)
    paid = neutral_run.costs
    paid_total = paid["commission"] + paid["slippage"] + paid["option_spread"]
    assert table["costs"].sum() == pytest.approx(paid_total, rel=1e-9)
    assert (table["trades"] > 0).all()
    # window_returns (log-sum path) agrees with the table (product path)
    np.testing.assert_allclose(window_returns(neutral_run.returns, market.windows).to_numpy(),
                               table["return"].to_numpy(), rtol=0, atol=1e-12)


def test_a_window_row_does_not_change_when_later_returns_do(neutral_run, market, table):
    """Rows of the windows before a cut depend only on returns up to the end of their spans."""
    cut = market.windows[7]
    after = _neighbours(market.sessions, cut)[1]
    future = neutral_run.returns.index > after
    changed_returns = neutral_run.returns.where(~future, neutral_run.returns * -3 + 0.01)
    changed_benchmark = neutral_run.benchmark.where(~future, 0.05)
    changed_run = dataclasses.replace(neutral_run, returns=changed_returns, benchmark=changed_benchmark)
    changed = window_table(changed_run, market.windows, market.regime)
    pd.testing.assert_frame_equal(changed.loc[:cut.event], table.loc[:cut.event])
    later = table.index > cut.event
    assert not np.allclose(changed.loc[later, "return"], table.loc[later, "return"])


def test_entry_regime_reads_only_the_close_before_the_window(market):
    w = market.windows[3]
    before = _neighbours(market.sessions, w)[0]
    base = entry_regime(market.regime, [w])
    future = market.regime.copy()
    future.loc[w.first:, ["momentum", "range", "selloff"]] = [0.9, 0.05, 0.05]
    future.loc[w.first:, "label"] = "momentum"
    pd.testing.assert_frame_equal(entry_regime(future, [w]), base)
    past = market.regime.copy()
    past.loc[before, "label"] = "selloff"
    assert entry_regime(past, [w])["regime"].iloc[0] == "selloff"


def test_a_stepped_market_keeps_the_entry_close_and_gives_the_same_entry_regime(market):
    stepped = window_market(market)
    pd.testing.assert_frame_equal(entry_regime(stepped.regime, market.windows),
                                  entry_regime(market.regime, market.windows))


def test_window_table_shows_a_progress_bar_over_windows(neutral_run, market):
    stream = io.StringIO()
    window_table(neutral_run, market.windows, market.regime, show_progress=True, progress_file=stream)
    text = stream.getvalue()
    assert "neutral: windows" in text and "/16 [" in text  # a tqdm bar over the 16 windows
    quiet = io.StringIO()
    window_table(neutral_run, market.windows, market.regime, show_progress=False, progress_file=quiet)
    assert quiet.getvalue() == ""


def test_window_table_refuses_no_windows(neutral_run):
    with pytest.raises(RunError, match="no windows"):
        window_table(neutral_run, [])


def test_window_table_csv_round_trip(table, tmp_path):
    path = write_window_table(table, tmp_path / "windows.csv")
    back = pd.read_csv(path, parse_dates=["event", "first", "last"])
    assert list(back.columns) == TABLE_COLUMNS
    np.testing.assert_allclose(back["return"], table["return"].to_numpy(), rtol=1e-9)
    assert back["regime"].tolist() == table["regime"].tolist()
    windows = read_windows(path)
    spans = table[["event", "first", "last", "sessions"]].itertuples(index=False)
    assert [(w.event, w.first, w.last, w.sessions) for w in windows] == [tuple(row) for row in spans]
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


# --- event-study summary against pandas --------------------------------------------------------------------


def _independent_bootstrap(values: pd.Series, resamples: int, seed: int) -> tuple[float, float]:
    """A second bootstrap, on another generator (legacy Mersenne Twister) through pandas."""
    state = np.random.RandomState(seed)
    picks = state.randint(0, len(values), size=(resamples, len(values)))
    means = pd.DataFrame(values.to_numpy()[picks]).mean(axis=1)
    return float(means.quantile(0.025)), float(means.quantile(0.975))


def test_event_summary_matches_pandas_on_the_same_windows(table):
    summary = event_summary(table, seed=0)
    rows = (("strategy", "return"), ("benchmark", "benchmark_return"), ("excess", "excess_return"))
    for row, column in rows:
        values = table[column]
        got = summary.loc[row]
        n = len(values)
        assert got["windows"] == n == 16
        assert got["mean"] == pytest.approx(values.mean(), abs=1e-15)
        assert got["median"] == pytest.approx(values.median(), abs=1e-15)
        assert got["hit_rate"] == pytest.approx((values > 0).sum() / n, abs=1e-15)
        assert got["std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
        assert got["t_stat"] == pytest.approx(values.mean() / (values.std() / math.sqrt(n)), rel=1e-12)
        low, high = _independent_bootstrap(values, 10_000, seed=12345)
        standard_error = values.std(ddof=0) / math.sqrt(n)
        # two bootstraps of 10,000 resamples agree on their 2.5% / 97.5% quantiles to a small fraction
        # of the standard error (their own noise is about 0.03 of it)
        assert abs(got["ci_low"] - low) < 0.1 * standard_error
        assert abs(got["ci_high"] - high) < 0.1 * standard_error
        assert got["ci_low"] < got["mean"] < got["ci_high"]


def test_bootstrap_is_seeded_and_near_the_normal_interval_on_a_large_sample():
    values = np.random.default_rng(7).normal(0.002, 0.01, 400)
    assert bootstrap_mean_ci(values, seed=3) == bootstrap_mean_ci(values, seed=3)
    assert bootstrap_mean_ci(values, seed=3) != bootstrap_mean_ci(values, seed=4)
    low, high = bootstrap_mean_ci(values, seed=3)
    half = 1.959964 * values.std(ddof=0) / math.sqrt(len(values))
    assert low == pytest.approx(values.mean() - half, abs=0.05 * half)
    assert high == pytest.approx(values.mean() + half, abs=0.05 * half)


def test_event_stats_edge_cases():
    one = event_stats([0.02])
    assert one["windows"] == 1 and one["ci_low"] == one["ci_high"] == 0.02 and math.isnan(one["t_stat"])
    flat = event_stats([0.0, 0.0, np.nan])
    assert flat["windows"] == 2 and flat["hit_rate"] == 0.0 and math.isnan(flat["t_stat"])
    with pytest.raises(RunError, match="no window"):
        event_stats([np.nan])


# --- cli.py backtest --window -------------------------------------------------------------------------------


def test_backtest_window_prints_the_summary_and_writes_windows_csv(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["backtest", "--strategy", "neutral", "--window", "triple-witching",
                                       "--start", "2015-01-01", "--end", "2018-12-31", *CASH_RATE_ARGS,
                                       "--out", str(out), "--no-tearsheet"])
    assert result.exit_code == 0, result.output
    assert "event study: neutral on 16 triple-witching windows" in result.output
    assert "S&P 500, last two weeks of December (4 years 2015..2018" in result.output
    saved = pd.read_csv(out / "windows.csv", parse_dates=["event", "first", "last"])
    assert len(saved) == 16
    # independent: the saved daily returns, cut on windows built from the data's own sessions
    run = load_run(out)
    sessions = data.load(["SPY"], START, END)["SPY"].index
    windows = windows_of_kind("triple-witching", sessions)
    expected = window_returns(run.returns, windows)
    np.testing.assert_allclose(saved["return"], expected.to_numpy(), rtol=1e-9)
    assert saved["event"].tolist() == list(expected.index)
    mean_line = next(line for line in result.output.splitlines() if line.startswith("neutral "))
    assert f"{saved['return'].mean():+.2%}" in mean_line
    assert f"{(saved['return'] > 0).mean():.1%}" in mean_line


# --- the playbook's claims ----------------------------------------------------------------------------------


def test_december_claim_matches_a_pandas_groupby(frames):
    close = frames["SPY"]["close"]
    by_year = close.groupby(close.index.year)
    expected = {}
    for year, series in by_year:
        december = series[series.index.month == 12]
        before = series[(series.index.month < 12) | (series.index.day <= 15)]
        if len(december) and len(before) and december.index[-1].day >= 29:
            expected[year] = december.iloc[-1] / before.iloc[-1] - 1
    got = december_returns(close)
    # 1990-2021: the data end on 2022-12-28, two sessions before 2022's last December session
    assert list(got.index.year) == sorted(expected) == list(range(1990, 2022))
    np.testing.assert_allclose(got.to_numpy(), [expected[y] for y in sorted(expected)], rtol=1e-12)
    claims = playbook_claims(frames, "year-end")
    d = claims.december.loc["S&P 500"]
    assert d["quoted"] == 0.013
    assert d["mean"] == pytest.approx(np.mean(list(expected.values())), abs=1e-15)
    assert d["hit_rate"] == pytest.approx(np.mean([v > 0 for v in expected.values()]))
    assert d["quoted_inside_ci"] == (d["ci_low"] <= 0.013 <= d["ci_high"])


def test_range_claims_match_pandas(frames):
    claims = playbook_claims(frames, "triple-witching")
    sessions = frames["SPY"].index
    windows = windows_of_kind("triple-witching", sessions)
    ranges = claims.ranges.set_index(["index", "horizon"])
    assert len(ranges) == 10
    # the Nasdaq range is judged on the NASDAQ Composite's own years only (QQQ's tech basket outside)
    spans = {"SPY": (sessions[0], sessions[-1]),
             "QQQ": (pd.Timestamp("1999-01-04"), pd.Timestamp("2018-12-31"))}
    for index_name, (symbol, low, high) in QUOTED_RANGES.items():
        close = frames[symbol]["close"].loc[spans[symbol][0]:spans[symbol][1]].reindex(sessions)
        for h in range(1, 6):
            row = ranges.loc[(index_name, h)]
            forward = (close.shift(-h) / close - 1).dropna()
            assert row["all_n"] == len(forward) == close.notna().sum() - h
            assert row["all_inside"] == pytest.approx(forward.between(low, high).mean(), abs=1e-15)
            assert row["all_p10"] == pytest.approx(forward.quantile(0.1), abs=1e-15)
            assert row["all_p90"] == pytest.approx(forward.quantile(0.9), abs=1e-15)
            entries = pd.Series([close.iloc[sessions.get_loc(w.first) - 1 + h]
                                 / close.iloc[sessions.get_loc(w.first) - 1] - 1 for w in windows]).dropna()
            assert len(windows) == 132  # 4 a year, 1990-03-16 .. 2022-12-16
            assert row["windows_n"] == len(entries) == {"SPY": 132, "QQQ": 80}[symbol]
            assert row["windows_inside"] == pytest.approx(entries.between(low, high).mean(), abs=1e-15)
            assert row["windows_p90"] == pytest.approx(entries.quantile(0.9), abs=1e-15)


def test_scenario_claims_match_realized_regime_counts(frames):
    claims = playbook_claims(frames, "year-end")
    spy = frames["SPY"]
    realized = realized_regimes(spy, horizon=5)
    windows = windows_of_kind("year-end", spy.index)
    entries = realized.loc[[spy.index[spy.index.get_loc(w.first) - 1] for w in windows]]
    inside = pd.concat([realized.loc[w.first:w.last] for w in windows]).dropna()
    table = claims.scenarios
    assert table["quoted"].tolist() == [0.35, 0.45, 0.20]
    for name in ("momentum", "range", "selloff"):
        assert table.loc[name, "all_sessions"] == pytest.approx((realized.dropna() == name).mean())
        assert table.loc[name, "window_sessions"] == pytest.approx((inside == name).mean())
        assert table.loc[name, "window_entries"] == pytest.approx((entries == name).mean())
        assert table.loc[name, "entries_ci_low"] <= table.loc[name, "window_entries"] <= \
            table.loc[name, "entries_ci_high"]
    assert table["all_sessions"].sum() == pytest.approx(1.0)
    assert table.attrs["counts"]["window_entries"] == 32


def test_claims_without_the_nasdaq_proxy_are_noted(frames):
    claims = playbook_claims({"SPY": frames["SPY"]}, "year-end")
    assert set(claims.ranges["index"]) == {"S&P 500"}
    assert any("Nasdaq-100" in note for note in claims.notes)
    with pytest.raises(RunError, match="SPY"):
        playbook_claims({"QQQ": frames["QQQ"]}, "year-end")
