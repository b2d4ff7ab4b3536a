"""Every registered strategy under every window kind through `cli.py backtest` (click's CliRunner), on
2016-2018, and the trade ledger of real runs reconciled with the book from the fills and the marks.

The market of each window kind is prepared once and shared by the five strategies (prepare_market is
memoised for the module), so the 25 runs cost about what 25 backtests of three years cost.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from backtests import jobs
from backtests.metrics import ANNUALISED
from cli import main
from strategies.registry import STRATEGIES

SHORT = ["--start", "2016-01-01", "--end", "2018-11-30"]
KINDS = ("full", "triple-witching", "year-end", "santa-claus", "monthly-expiry")
STOCK_COLUMNS_EXCLUDED = ("cash", "options", "options_delta", "options_notional")


@pytest.fixture(scope="module")
def shared_markets():
    """jobs.prepare_market memoised by spec: each window kind's market is built once for the module."""
    original = jobs.prepare_market
    cache = {}

    def prepare(spec):
        if spec not in cache:
            cache[spec] = original(spec)
        return cache[spec]

    patch = pytest.MonkeyPatch()
    patch.setattr(jobs, "prepare_market", prepare)
    yield cache
    patch.undo()


@pytest.fixture(scope="module")
def runs(shared_markets, tmp_path_factory):
    """(strategy, kind) -> (output directory, terminal output, exit code) of every CLI run."""
    root = tmp_path_factory.mktemp("every")
    done = {}
    for kind in KINDS:
        for name in STRATEGIES:
            out = root / f"{name}-{kind}"
            # the tearsheet is the slow file: draw it where it used to crash (the benchmark) only
            tearsheet = [] if name == "benchmark" and kind in ("full", "year-end") else ["--no-tearsheet"]
            result = CliRunner().invoke(main, ["backtest", "--strategy", name, "--window", kind, *SHORT,
                                               "--out", str(out), *tearsheet])
            done[name, kind] = (out, result.output, result.exit_code, result.exception)
    return done


def test_strategies_command_lists_the_registry():
    result = CliRunner().invoke(main, ["strategies"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == list(STRATEGIES)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_runs_under_every_window_kind(runs, name, kind):
    out, output, code, exception = runs[name, kind]
    assert code == 0, f"{output}\n{exception!r}"
    for file in ("returns.csv", "trades.csv", "packages.csv", "orders.csv", "positions.csv", "run.json",
                 "equity.png"):
        assert (out / file).stat().st_size > 0, file
    document = json.loads((out / "run.json").read_text())
    daily = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=["date"])
    assert daily.index[0] >= pd.Timestamp("2016-01-01") and daily.index[-1] <= pd.Timestamp("2018-11-30")
    assert np.isfinite(daily[["returns", "benchmark", "equity", "risk_free"]].to_numpy()).all()
    assert (daily["risk_free"] >= 0).all() and daily["risk_free"].sum() > 0  # T-bills paid 2016-2018
    trades = pd.read_csv(out / "trades.csv")
    metrics = document["metrics"]
    # the ledger holds every leg: its net P&L is the equity's change less the interest on cash
    interest = document["costs"]["interest_earned"]
    change = daily["equity"].iloc[-1] - daily["equity"].iloc[0]
    assert trades["pnl_net"].sum() + interest == pytest.approx(change, abs=1e-6)
    assert metrics["ledger_pnl"] == pytest.approx(trades["pnl_net"].sum(), abs=1e-6)
    if kind == "full":
        assert metrics["sharpe"] is not None and metrics["cagr"] is not None
        assert "over the T-bill return" in output
        assert document["metric_conventions"]["windows_only"] is False
        if name == "benchmark":
            assert (out / "tearsheet.html").stat().st_size > 0
    else:
        # windows strung together: no annualised figure anywhere a user reads one
        assert not set(metrics) & set(ANNUALISED)
        assert metrics["windows"] is not None and metrics["windows"] > 0
        assert document["metric_conventions"]["windows_only"] is True
        table = output.split("convention:")[0]
        for word in ("CAGR", "Sharpe", "Sortino", "Calmar", "Volatility", "Turnover"):
            assert word not in table, word
        assert "Window return: mean" in table and "windows-only run" in output
        windows = pd.read_csv(out / "windows.csv")
        # windows.csv holds ten significant digits
        assert metrics["window_mean"] == pytest.approx(windows["return"].mean(), abs=1e-9)
        assert metrics["excess_mean"] == pytest.approx(windows["excess_return"].mean(), abs=1e-9)
        if name == "benchmark" and kind == "year-end":
            page = (out / "tearsheet.html").read_text(encoding="utf-8")
            assert "Windows-only run" in page
            assert "<tr><td>CAGR﹪</td>" not in page and "<tr><td>Sharpe</td>" not in page
            assert "<tr><td>Max Drawdown</td>" in page


def _book_pnl(orders: pd.DataFrame, positions: pd.DataFrame, kind: str) -> float:
    """A leg kind's P&L from the fills and the last marks alone: cash paid and received at fill prices,
    plus what is still held at the last close, less commissions."""
    fills = orders[orders["kind"] == kind]
    multiplier = 100.0 if kind == "option" else 1.0
    sign = fills["side"].map({"buy": 1.0, "sell": -1.0})
    cash = -(sign * fills["quantity"] * fills["price"] * multiplier).sum()
    if kind == "option":
        held = positions["options"].iloc[-1] if "options" in positions else 0.0
    else:
        held = positions[[c for c in positions.columns if c not in STOCK_COLUMNS_EXCLUDED]].iloc[-1].sum()
    return float(cash + held - fills["commission"].sum())


def _win_loss(pnl: pd.Series) -> tuple[float, float]:
    wins, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    return float((pnl > 0).mean()), float(wins / losses) if losses > 0 else math.inf


@pytest.mark.parametrize("name", ["neutral", "defensive", "playbook", "momentum"])
def test_ledger_reconciles_with_the_book(runs, name):
    """trades.csv against the fills (orders.csv) and the marks (positions.csv): each leg kind's net P&L is
    the book's to 1e-6, the option spread is not taken twice, and the statistics follow from the rows."""
    out = runs[name, "full"][0]
    trades = pd.read_csv(out / "trades.csv", parse_dates=["entry_date", "exit_date"])
    orders = pd.read_csv(out / "orders.csv")
    positions = pd.read_csv(out / "positions.csv", index_col="date")
    document = json.loads((out / "run.json").read_text())
    # stock legs are total return: their P&L holds the dividends the broker credited while they were held
    dividends = {"stock": document["costs"]["dividends_earned"], "option": 0.0}
    for kind in ("stock", "option"):
        ledger = trades.loc[trades["kind"] == kind, "pnl_net"].sum()
        assert ledger == pytest.approx(_book_pnl(orders, positions, kind) + dividends[kind], abs=1e-6), kind
    assert trades["dividends"].sum() == pytest.approx(dividends["stock"], abs=1e-6)
    # commissions are the fills' own, once; the half-spread is inside the fill prices, never deducted
    assert trades["commission"].sum() == pytest.approx(orders["commission"].sum(), abs=1e-6)
    assert (trades["pnl"] - trades["pnl_net"] - trades["commission"]).abs().max() < 1e-6
    options = trades[trades["kind"] == "option"]
    if name != "momentum":
        assert len(options) > 10
        assert options["spread"].sum() == pytest.approx(document["costs"]["option_spread"], rel=1e-9)
        # one row per contract round trip: no instrument has two rows open at once
        assert not options.groupby(["instrument", "entry_date"]).size().gt(1).any()
    closed = trades[trades["exit_date"].notna()]
    metrics = document["metrics"]
    for kind in ("stock", "option"):
        legs = closed.loc[closed["kind"] == kind, "pnl_net"]
        assert metrics[f"{kind}_legs"] == len(legs)
        if len(legs):
            hit, factor = _win_loss(legs)
            assert metrics[f"{kind}_hit_rate"] == pytest.approx(hit)
            assert metrics[f"{kind}_profit_factor"] == (None if math.isinf(factor) else pytest.approx(factor))
    packages = pd.read_csv(out / "packages.csv", parse_dates=["entry_date", "exit_date"])
    assert packages["pnl_net"].sum() == pytest.approx(trades["pnl_net"].sum(), abs=1e-6)
    by_package = trades.groupby("package")["pnl_net"].sum()
    assert by_package.to_numpy() == pytest.approx(packages.set_index("package")["pnl_net"].to_numpy())
    finished = packages[packages["exit_date"].notna()]
    assert metrics["packages"] == len(finished)
    assert metrics["packages_open"] == int(packages["exit_date"].isna().sum())
    equity = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=["date"])["equity"]
    for _, row in packages.iterrows():
        before = equity[equity.index < row["entry_date"]]
        base = before.iloc[-1] if len(before) else equity.iloc[0]
        assert row["return"] == pytest.approx(row["pnl_net"] / base)  # on the equity before it opened
    if len(finished):
        hit, _ = _win_loss(finished["pnl_net"])
        assert metrics["hit_rate"] == pytest.approx(hit)
        wins, losses = finished[finished["pnl_net"] > 0], finished[finished["pnl_net"] < 0]
        if len(wins) and len(losses):
            assert metrics["avg_win"] == pytest.approx(wins["return"].mean())
            assert metrics["avg_loss"] == pytest.approx(losses["return"].mean())
            assert metrics["profit_factor"] == pytest.approx(wins["pnl_net"].sum() / -losses["pnl_net"].sum())


def test_the_tax_line_is_on_the_closed_legs_net_gains(shared_markets, tmp_path):
    out = tmp_path / "taxed"
    result = CliRunner().invoke(main, ["backtest", "--strategy", "momentum", *SHORT, "--tax-rate", "25%",
                                       "--out", str(out), "--no-tearsheet"])
    assert result.exit_code == 0, result.output
    trades = pd.read_csv(out / "trades.csv")
    realised = trades.loc[trades["exit_date"].notna(), "pnl_net"].sum()
    tax = json.loads((out / "run.json").read_text())["costs"]["tax"]
    assert tax == pytest.approx(0.25 * max(realised, 0.0), abs=1e-6)
