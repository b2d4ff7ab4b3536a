"""Performance figures of a run, computed here with pandas/numpy so every number in the table has one
definition we can state and test.

Conventions (chosen to agree with quantstats 0.0.86, so the tearsheet and our table tell the same story;
tests/test_metrics.py checks each against quantstats' own function):

- daily returns are fractions; a year is `periods_per_year` sessions (252), not calendar days;
- CAGR = (1 + total return) ** (periods_per_year / sessions) - 1, i.e. years = sessions / 252;
- excess CAGR over T-bills = CAGR - the CAGR of the T-bill returns over the same sessions;
- volatility = sample standard deviation (ddof=1) of daily returns * sqrt(252);
- Sharpe and Sortino are over the T-bill rate by default: each session's excess return is the return
  less that session's T-bill return (RunResult.risk_free: the rate known at the previous close over the
  calendar days since, exactly what the broker credits cash). An annual rate `rf` given as a number
  becomes a per-session rate geometrically, (1 + rf) ** (1/252) - 1, as quantstats does;
- Sharpe = mean(excess) / std(excess, ddof=1) * sqrt(252);
- Sortino = mean(excess) / downside deviation * sqrt(252), where the downside deviation is
  sqrt(sum(min(excess, 0) ** 2) / N) over ALL N sessions (Sortino & Price's target semi-deviation with
  target 0, as quantstats 0.0.86 computes it; not the std of the negative days only);
- max drawdown is measured from an equity of 1.0 before the first session, so a loss on day one counts;
  it is a negative fraction (-0.25 is a 25% fall from the running peak);
- Calmar = CAGR / |max drawdown|.
A ratio whose denominator is zero (no variation, no drawdown, no losing trade) is NaN, not infinity,
except the profit factor with wins and no losses, which is infinite by its definition.

Trades are counted per position package (assign_packages): everything the playbook holds at once, its
stock positions and the option hedge written against them, from the fill that opens the book from flat
to the fill that leaves it flat. Its legs (one stock, or one option contract, open to flat) are reported
beside it. A leg's P&L is at fill prices, which hold the slippage and the option half-spread, less its
commissions: each cost is counted once.

A windows-only run (the market stepped through event windows) is windows strung together: annualised
figures of it (CAGR, volatility, Sharpe, Sortino, Calmar, turnover a year) mean nothing and are not
computed. Its headline is the distribution of the window returns (event_stats), and its excess over
the benchmark on the same windows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from backtests.errors import RunError
from backtests.result import RunResult

PERIODS_PER_YEAR = 252
COST_KEYS = ("commission", "slippage", "option_spread", "tax")
OPTION_MULTIPLIER = 100  # shares per listed equity-option contract; order prices are per share

# A standard deviation this small per session is rounding noise from a constant series, not risk:
# dividing by it would print a Sharpe ratio in the trillions.
_ZERO_SPREAD = 1e-12

RESAMPLES = 10_000  # bootstrap resamples: the 2.5% / 97.5% quantiles settle to ~0.03 standard errors
CI_LEVEL = 0.95

# (key, label, unit) in the order the table prints them. Units say how the stored value reads:
# "fraction" 0.123 is 12.3%; "fraction/year" is a compound annual rate; "times/year" is turnover;
# "of equity" is a mean over the closes of a value divided by that close's equity; "fraction/window" a
# window's return (close before its first session -> close after its last).
_RETURN_ROWS = (
    ("cagr", "CAGR", "fraction/year"),
    ("excess_cagr", "Excess CAGR over T-bills", "fraction/year"),
    ("total_return", "Total return", "fraction"),
    ("volatility", "Volatility (ann.)", "fraction/year"),
    ("sharpe", "Sharpe (over T-bills)", "ratio"),
    ("sortino", "Sortino (over T-bills)", "ratio"),
    ("max_drawdown", "Max drawdown", "fraction"),
    ("calmar", "Calmar", "ratio"),
    ("best_day", "Best day", "fraction"),
    ("worst_day", "Worst day", "fraction"),
)
_WINDOW_ROWS = (
    ("windows", "Windows", "count"),
    ("window_mean", "Window return: mean", "fraction/window"),
    ("window_median", "Window return: median", "fraction/window"),
    ("window_hit_rate", "Window hit rate", "fraction"),
    ("window_t_stat", "Window t-stat", "ratio"),
    ("window_ci_low", "Window mean: 95% CI low", "fraction/window"),
    ("window_ci_high", "Window mean: 95% CI high", "fraction/window"),
    ("excess_mean", "Excess over benchmark: mean", "fraction/window"),
    ("excess_t_stat", "Excess over benchmark: t-stat", "ratio"),
    ("excess_ci_low", "Excess mean: 95% CI low", "fraction/window"),
    ("excess_ci_high", "Excess mean: 95% CI high", "fraction/window"),
    ("total_return", "Total return (windows compounded)", "fraction"),
    ("max_drawdown", "Max drawdown (windows strung together)", "fraction"),
    ("best_day", "Best day", "fraction"),
    ("worst_day", "Worst day", "fraction"),
)
_BOOK_ROWS = (
    ("stock_weight", "Stock weight (mean gross, % of equity)", "fraction of equity"),
    ("net_delta", "Net delta, stock + options (mean, % of equity)", "fraction of equity"),
    ("option_notional", "Option notional (mean, % of equity)", "fraction of equity"),
    ("packages", "Packages (closed round trips)", "count"),
    ("packages_open", "Packages open at the end", "count"),
    ("hit_rate", "Package hit rate", "fraction"),
    ("avg_win", "Avg package win (% of equity)", "fraction of equity"),
    ("avg_loss", "Avg package loss (% of equity)", "fraction of equity"),
    ("profit_factor", "Package profit factor", "ratio"),
    ("stock_legs", "Stock legs (closed)", "count"),
    ("stock_hit_rate", "Stock leg hit rate", "fraction"),
    ("stock_profit_factor", "Stock leg profit factor", "ratio"),
    ("option_legs", "Option legs (closed)", "count"),
    ("option_hit_rate", "Option leg hit rate", "fraction"),
    ("option_profit_factor", "Option leg profit factor", "ratio"),
    ("ledger_pnl", "Ledger net P&L (all legs)", "currency"),
    ("turnover", "Turnover", "times/year"),
    ("costs_paid", "Costs paid", "currency"),
)
ROWS = _RETURN_ROWS + _BOOK_ROWS  # a full-history run
WINDOW_ROWS = _WINDOW_ROWS + tuple(r for r in _BOOK_ROWS if r[0] != "turnover")  # a windows-only run
ANNUALISED = ("cagr", "excess_cagr", "volatility", "sharpe", "sortino", "calmar", "turnover")
_TRADE_KEYS = tuple(key for key, _, _ in _BOOK_ROWS[3:])
_OPTION_COLUMNS = ("cash", "options", "options_delta", "options_notional")


def _check_returns(returns: pd.Series, what: str = "returns") -> pd.Series:
    """The returns as float64, refusing what would make every figure meaningless (empty, NaN, inf)."""
    if not isinstance(returns, pd.Series):
        raise RunError(f"{what} must be a pandas Series of daily returns, got {type(returns).__name__}")
    if len(returns) == 0:
        raise RunError(f"{what} is empty: there are no sessions to measure")
    values = returns.astype("float64")
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        raise RunError(f"{what} has a missing or infinite value on {returns.index[bad.argmax()]}")
    return values


def drawdown_series(returns: pd.Series) -> pd.Series:
    """Fall from the running peak of compounded equity at each close, as a negative fraction.

    The peak starts at 1.0, the equity before the first session, so a first-day loss is a drawdown.

    >>> drawdown_series(pd.Series([-0.1, 0.05, 0.1])).round(4).tolist()
    [-0.1, -0.055, 0.0]
    """
    values = _check_returns(returns)
    wealth = (1.0 + values).cumprod()
    peak = np.maximum(wealth.cummax(), 1.0)
    return wealth / peak - 1.0


def _per_session_rf(rf, index: pd.DatetimeIndex, periods_per_year: int) -> np.ndarray:
    """The risk-free return of each session: a Series of per-session returns (aligned by date, a
    missing date earns nothing), or an annual rate as a number, made per-session geometrically."""
    if isinstance(rf, pd.Series):
        return rf.reindex(index).astype("float64").fillna(0.0).to_numpy()
    return np.full(len(index), (1.0 + float(rf)) ** (1.0 / periods_per_year) - 1.0)


def _cagr(wealth: float, sessions: int, periods_per_year: int) -> float:
    # Below zero (a loss beyond the whole account on a leveraged day) there is no real growth rate.
    return wealth ** (periods_per_year / sessions) - 1.0 if wealth >= 0 else math.nan


def performance(returns: pd.Series, periods_per_year: int = PERIODS_PER_YEAR, rf=0.0,
                annualised: bool = True) -> dict:
    """Return-based figures of one daily return series (see the module docstring for each definition).

    rf is the risk-free return: a Series of per-session returns on the same dates (a run's
    risk_free), or an annual rate as a fraction; it enters the excess CAGR, Sharpe and Sortino.
    annualised=False leaves out the annualised figures (a windows-only run has none).

    >>> figures = performance(pd.Series([0.1, -0.05, 0.02]))
    >>> round(figures["total_return"], 6), round(figures["max_drawdown"], 6)
    (0.0659, -0.05)
    """
    values = _check_returns(returns)
    sessions = len(values)
    root_year = math.sqrt(periods_per_year)
    wealth = float(np.prod(1.0 + values.to_numpy()))
    max_drawdown = float(drawdown_series(values).min())
    figures = {
        "total_return": wealth - 1.0,
        "max_drawdown": max_drawdown,
        "best_day": float(values.max()),
        "worst_day": float(values.min()),
    }
    if not annualised:
        return figures
    cagr = _cagr(wealth, sessions, periods_per_year)
    free = _per_session_rf(rf, values.index, periods_per_year)
    free_cagr = _cagr(float(np.prod(1.0 + free)), sessions, periods_per_year)
    spread = values.std(ddof=1) if sessions > 1 else math.nan
    excess = values - free
    excess_spread = excess.std(ddof=1) if sessions > 1 else math.nan
    mean_excess = float(excess.mean())
    sharpe = mean_excess / excess_spread * root_year if excess_spread > _ZERO_SPREAD else math.nan
    downside = math.sqrt(float((excess.clip(upper=0.0) ** 2).sum()) / sessions)
    sortino = mean_excess / downside * root_year if downside > _ZERO_SPREAD else math.nan
    figures.update({
        "cagr": cagr,
        "excess_cagr": cagr - free_cagr,
        "volatility": float(spread * root_year),
        "sharpe": float(sharpe),
        "sortino": float(sortino),
        "calmar": float(cagr / abs(max_drawdown) if max_drawdown < 0 else math.nan),
    })
    return figures


# --- the event study of window returns ------------------------------------------------------------


def bootstrap_mean_ci(values, seed: int = 0, resamples: int = RESAMPLES,
                      level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean: `resamples` means of samples drawn with
    replacement (numpy default_rng(seed)), and their (1 - level)/2 and (1 + level)/2 quantiles.

    >>> bootstrap_mean_ci([0.01, 0.01, 0.01])
    (0.01, 0.01)
    """
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if len(data) == 0:
        raise RunError("a bootstrap needs at least one finite value")
    if resamples < 1:
        raise RunError(f"a bootstrap needs at least one resample, got {resamples}")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def event_stats(values, seed: int = 0, resamples: int = RESAMPLES) -> dict:
    """The event-study figures of one column of window returns (NaN windows left out): windows,
    mean, median, hit_rate (share above zero; a flat window is not a hit), std (ddof=1), t_stat
    (mean / (std / sqrt(windows))), ci_low and ci_high (bootstrap_mean_ci).

    >>> s = event_stats([0.02, -0.01, 0.03, 0.0])
    >>> s["windows"], round(s["mean"], 4), s["hit_rate"], round(s["t_stat"], 3)
    (4, 0.01, 0.5, 1.095)
    """
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    n = len(data)
    if n == 0:
        raise RunError("no window has a return to summarise")
    std = float(np.std(data, ddof=1)) if n > 1 else math.nan
    mean = float(np.mean(data))
    low, high = bootstrap_mean_ci(data, seed, resamples)
    return {
        "windows": n,
        "mean": mean,
        "median": float(np.median(data)),
        "hit_rate": float(np.mean(data > 0)),
        "std": std,
        "t_stat": mean / (std / math.sqrt(n)) if std > 0 else math.nan,
        "ci_low": low,
        "ci_high": high,
    }


def window_figures(windows: pd.DataFrame | None, seed: int = 0, resamples: int = RESAMPLES) -> dict:
    """The headline of a windows-only run from its per-window table (backtests.windows_eval
    .window_table: columns "return" and "excess_return", the latter over the benchmark's buy-and-hold
    on the same spans); NaN throughout when there is no table or no window has a return."""
    keys = [key for key, _, _ in _WINDOW_ROWS if key.startswith(("window", "excess")) or key == "windows"]
    figures = dict.fromkeys(keys, math.nan)
    if windows is None or not np.isfinite(windows["return"].to_numpy(float)).any():
        return figures
    mine = event_stats(windows["return"], seed, resamples)
    excess = event_stats(windows["excess_return"], seed, resamples)
    figures.update({"windows": mine["windows"], "window_mean": mine["mean"], "window_median": mine["median"],
                    "window_hit_rate": mine["hit_rate"], "window_t_stat": mine["t_stat"],
                    "window_ci_low": mine["ci_low"], "window_ci_high": mine["ci_high"],
                    "excess_mean": excess["mean"], "excess_t_stat": excess["t_stat"],
                    "excess_ci_low": excess["ci_low"], "excess_ci_high": excess["ci_high"]})
    return figures


# --- the ledger: legs, packages, and their statistics --------------------------------------------


def _require_columns(trades: pd.DataFrame, columns) -> None:
    for column in columns:
        if column not in trades.columns:
            raise RunError(f"the trades table has no {column!r} column (it has {list(trades.columns)})")


def assign_packages(trades: pd.DataFrame) -> pd.Series:
    """The position package of each leg, numbered 1, 2, ... in order of opening.

    A package is everything held at once: legs whose holding spans [entry_date, exit_date] touch or
    overlap (a leg still open, exit_date NaT, runs to the end) belong to one package, so a package
    ends only at a close where the book holds nothing. A leg opened at the open its predecessor was
    closed at (an option roll, a switch of sleeve) joins the same package: the book was never flat.

    >>> d = pd.to_datetime
    >>> legs = pd.DataFrame({"entry_date": d(["2020-01-02", "2020-01-03", "2020-01-09", "2020-01-10"]),
    ...                      "exit_date": d(["2020-01-06", "2020-01-08", "2020-01-10", None])})
    >>> assign_packages(legs).tolist()
    [1, 1, 2, 2]
    """
    _require_columns(trades, ("entry_date", "exit_date"))
    if len(trades) == 0:
        return pd.Series([], index=trades.index, dtype="int64", name="package")
    entry = pd.to_datetime(trades["entry_date"]).to_numpy("datetime64[ns]").astype(np.int64)
    exit_ = pd.to_datetime(trades["exit_date"]).to_numpy("datetime64[ns]")
    end = np.where(np.isnat(exit_), np.iinfo(np.int64).max, exit_.astype(np.int64))  # open: to the end
    package = np.zeros(len(trades), dtype=np.int64)
    number, reach = 0, None
    for position in np.argsort(entry, kind="stable"):
        if reach is None or entry[position] > reach:
            number += 1
            reach = end[position]
        else:
            reach = max(reach, end[position])
        package[position] = number
    return pd.Series(package, index=trades.index, name="package")


def packages(trades: pd.DataFrame, equity: pd.Series) -> pd.DataFrame:
    """One row per position package: package, entry_date, exit_date (NaT while any leg is open),
    legs, stock_legs, option_legs, instruments, pnl_net (the sum of its legs': fill prices less
    commissions, open legs marked at the last close) and return (pnl_net over the equity at the close
    before its first fill; the first close when it opens on the first session)."""
    _require_columns(trades, ("entry_date", "exit_date", "kind", "instrument", "pnl_net"))
    columns = ["package", "entry_date", "exit_date", "legs", "stock_legs", "option_legs", "instruments",
               "pnl_net", "return"]
    if len(trades) == 0:
        return pd.DataFrame(columns=columns)
    legs = trades.assign(package=assign_packages(trades))
    equity = equity.astype("float64").dropna()
    rows = []
    for number, group in legs.groupby("package", sort=True):
        entry = pd.to_datetime(group["entry_date"]).min()
        exits = pd.to_datetime(group["exit_date"])
        before = equity[equity.index < entry]
        base = float(before.iloc[-1]) if len(before) else (float(equity.iloc[0]) if len(equity) else math.nan)
        pnl = float(group["pnl_net"].astype("float64").sum())
        kinds = group["kind"].astype(str)
        rows.append({
            "package": int(number), "entry_date": entry,
            "exit_date": pd.NaT if exits.isna().any() else exits.max(),
            "legs": len(group), "stock_legs": int((kinds == "stock").sum()),
            "option_legs": int((kinds == "option").sum()),
            "instruments": " ".join(sorted(set(group["instrument"].astype(str)))),
            "pnl_net": pnl, "return": pnl / base if base > 0 else math.nan,
        })
    return pd.DataFrame(rows, columns=columns)


def _win_loss(pnl: pd.Series, returns: pd.Series) -> dict:
    """Hit rate, profit factor and mean win / loss return of closed round trips (a zero is no win)."""
    pnl = pnl.astype("float64")
    wins, losses = pnl > 0, pnl < 0
    gross_win, gross_loss = float(pnl[wins].sum()), float(-pnl[losses].sum())
    if gross_loss > 0:
        profit_factor = gross_win / gross_loss
    else:
        profit_factor = math.inf if gross_win > 0 else math.nan
    count = len(pnl)
    returns = returns.astype("float64")
    return {
        "count": count,
        "hit_rate": float(wins.sum()) / count if count else math.nan,
        "avg_win": float(returns[wins].mean()) if wins.any() else math.nan,
        "avg_loss": float(returns[losses].mean()) if losses.any() else math.nan,
        "profit_factor": profit_factor,
    }


def trade_stats(trades: pd.DataFrame, equity: pd.Series | None = None) -> dict:
    """The ledger's figures (see the module docstring): per position package, the headline, and per
    leg kind beside it; only closed round trips count (a package or leg still open at the end is
    counted in packages_open, and its marked P&L in ledger_pnl only).

    packages, hit_rate, avg_win / avg_loss (mean return of the winning / losing packages, a fraction
    of the equity at their opening), profit_factor (sum of net wins / |sum of net losses|);
    stock_legs / option_legs with their hit rate and profit factor; ledger_pnl = sum of pnl_net of
    every leg, closed and open (it reconciles with the equity's trading P&L).

    >>> d = pd.to_datetime
    >>> t = pd.DataFrame({"instrument": ["SPY", "SPY 2020-02-21 P 300", "QQQ"],
    ...                   "kind": ["stock", "option", "stock"],
    ...                   "entry_date": d(["2020-01-02", "2020-01-02", "2020-01-08"]),
    ...                   "exit_date": d(["2020-01-06", "2020-01-06", "2020-01-09"]),
    ...                   "pnl_net": [300.0, -100.0, -50.0], "return": [0.03, -0.5, -0.005]})
    >>> s = trade_stats(t, pd.Series([1e4, 1e4], index=d(["2020-01-01", "2020-01-07"])))
    >>> s["packages"], s["hit_rate"], s["profit_factor"], s["stock_legs"], s["option_hit_rate"]
    (2, 0.5, 4.0, 2, 0.0)
    """
    _require_columns(trades, ("exit_date", "pnl_net", "return", "kind", "entry_date"))
    if equity is None:
        equity = pd.Series(dtype=float)
    table = packages(trades, equity)
    closed = table[table["exit_date"].notna()]
    headline = _win_loss(closed["pnl_net"], closed["return"])
    figures = {
        "packages": headline["count"], "packages_open": int(table["exit_date"].isna().sum()),
        "hit_rate": headline["hit_rate"], "avg_win": headline["avg_win"], "avg_loss": headline["avg_loss"],
        "profit_factor": headline["profit_factor"],
    }
    legs = trades[trades["exit_date"].notna()]
    for kind in ("stock", "option"):
        mine = legs[legs["kind"].astype(str) == kind]
        stats = _win_loss(mine["pnl_net"], mine["return"])
        figures[f"{kind}_legs"] = stats["count"]
        figures[f"{kind}_hit_rate"] = stats["hit_rate"]
        figures[f"{kind}_profit_factor"] = stats["profit_factor"]
    figures["ledger_pnl"] = float(trades["pnl_net"].astype("float64").sum()) if len(trades) else 0.0
    return figures


def realised_tax(trades: pd.DataFrame, rate: float) -> float:
    """Tax on the run's net realised gains (closed legs' pnl_net; a net loss pays none), reported
    beside the returns, not taken from them.

    >>> t = pd.DataFrame({"exit_date": pd.to_datetime(["2020-01-03", "2020-02-03", None]),
    ...                   "pnl_net": [100.0, -40.0, 500.0]})
    >>> realised_tax(t, 0.25)
    15.0
    """
    if len(trades) == 0 or not rate:
        return 0.0
    closed = trades[pd.to_datetime(trades["exit_date"]).notna()]
    return float(rate * max(float(closed["pnl_net"].astype("float64").sum()), 0.0))


def book_exposure(result: RunResult) -> dict:
    """Means over the run's closes, each a fraction of that close's equity: stock_weight (the gross
    stock weight, sum of |stock position values|), net_delta (signed: stock values at a beta of 1 to
    the index plus the options' delta in index units x level) and option_notional (|contracts| x
    multiplier x index level). NaN where the positions do not record it (option_notional of a run
    saved before it was recorded)."""
    positions = result.positions
    equity = result.equity.astype("float64")
    nan = {"stock_weight": math.nan, "net_delta": math.nan, "option_notional": math.nan}
    if len(positions) == 0 or len(equity) == 0:
        recorded = result.exposure.dropna()
        nan["stock_weight"] = float(recorded.mean()) if len(recorded) else math.nan
        return nan
    positions = positions.reindex(equity.index)
    symbols = [c for c in positions.columns if c not in _OPTION_COLUMNS]
    stock = positions[symbols].astype("float64").fillna(0.0)
    live = equity > 0
    figures = {"stock_weight": float((stock.abs().sum(axis=1)[live] / equity[live]).mean())}
    delta = positions["options_delta"].astype("float64").fillna(0.0) if "options_delta" in positions \
        else pd.Series(0.0, index=equity.index)
    figures["net_delta"] = float(((stock.sum(axis=1) + delta)[live] / equity[live]).mean())
    if "options_notional" in positions:
        notional = positions["options_notional"].astype("float64").fillna(0.0)
        figures["option_notional"] = float((notional[live] / equity[live]).mean())
    elif "options" not in positions:
        figures["option_notional"] = 0.0  # a stock-only run holds no options
    else:
        figures["option_notional"] = math.nan
    return figures


def turnover(result: RunResult, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Traded value a year as a multiple of mean equity: sum of |quantity * price| * multiplier over all
    fills (100 for options, whose prices are per share), / mean equity / years (sessions / 252).
    A buy and a later sell of the whole book is a turnover of 2."""
    orders = result.orders
    if len(orders) == 0:
        return 0.0
    for column in ("quantity", "price", "kind"):
        if column not in orders.columns:
            raise RunError(f"the orders table has no {column!r} column (it has {list(orders.columns)})")
    multiplier = np.where(orders["kind"].astype(str) == "option", OPTION_MULTIPLIER, 1.0)
    notional = (orders["quantity"].astype("float64") * orders["price"].astype("float64")).abs()
    traded = float((notional * multiplier).sum())
    mean_equity = float(result.equity.mean())
    years = len(result.returns) / periods_per_year
    if not mean_equity > 0 or years == 0:
        raise RunError(f"{result.strategy}: turnover needs a positive mean equity and at least one session")
    return traded / mean_equity / years


def costs_paid(result: RunResult) -> float:
    """Everything the run paid to trade, in account currency: commission, slippage, option spread
    and tax from RunResult.costs (interest earned on cash, also recorded there, is not a cost)."""
    return float(sum(float(result.costs.get(key, 0.0)) for key in COST_KEYS))


def windows_only(result: RunResult) -> bool:
    """Whether the run is event windows strung together (its market stepped through windows, as
    run.json records it; the benchmark held through them counts too)."""
    settings = result.settings if isinstance(result.settings, dict) else {}
    market = settings.get("market") or {}
    return bool(settings.get("windows_only")) or (market.get("window") or "full") != "full"


def risk_free(result: RunResult):
    """The run's T-bill return per session (a run without one, e.g. built by hand, earns 0)."""
    return result.risk_free if len(result.risk_free) else 0.0


def summary(result: RunResult, periods_per_year: int = PERIODS_PER_YEAR, rf=None,
            windows: pd.DataFrame | None = None, seed: int = 0) -> dict:
    """Every figure of the metrics table for one run, keyed as ROWS (WINDOW_ROWS for a windows-only
    run, whose headline needs its per-window table `windows`); what run.json stores.

    rf None measures Sharpe and Sortino over the run's own T-bill returns; a number is an annual rate."""
    rf = risk_free(result) if rf is None else rf
    stepped = windows_only(result)
    figures = performance(result.returns, periods_per_year=periods_per_year, rf=rf, annualised=not stepped)
    figures.update(trade_stats(result.trades, result.equity))
    figures.update(book_exposure(result))
    figures["turnover"] = turnover(result, periods_per_year=periods_per_year)
    figures["costs_paid"] = costs_paid(result)
    if stepped:
        figures.update(window_figures(windows, seed))
    return {key: figures[key] for key, _, _ in (WINDOW_ROWS if stepped else ROWS)}


def benchmark_summary(benchmark: pd.Series, periods_per_year: int = PERIODS_PER_YEAR, rf=0.0,
                      windows: pd.DataFrame | None = None, stepped: bool = False, seed: int = 0) -> dict:
    """Figures of the buy-and-hold benchmark: fully invested (a stock weight and net delta of 1, no
    options), trade rows not applicable. A windows-only comparison gets the benchmark's own window
    distribution (its excess over itself is not a figure)."""
    figures = performance(benchmark, periods_per_year=periods_per_year, rf=rf, annualised=not stepped)
    figures.update({key: math.nan for key in _TRADE_KEYS})
    figures.update({"stock_weight": 1.0, "net_delta": 1.0, "option_notional": 0.0})
    if stepped:
        table = None if windows is None else windows.assign(**{"return": windows["benchmark_return"]})
        figures.update(window_figures(table, seed))
        for key in ("excess_mean", "excess_t_stat", "excess_ci_low", "excess_ci_high"):
            figures[key] = math.nan
    return {key: figures[key] for key, _, _ in (WINDOW_ROWS if stepped else ROWS)}


def convention(results, rf=None, stepped: bool = False) -> str:
    """The line every metrics table carries: what Sharpe is over, what a trade is, and for a
    windows-only table why it has no annualised figure."""
    runs = [results] if isinstance(results, RunResult) else list(results)
    trades = ("trades: position packages (stock and hedge together, open to flat), legs beside; "
              "P&L at fill prices less commission; 'of equity' figures are means over the closes")
    if stepped:
        return ("windows-only run: the windows strung together have no meaningful annualised figure "
                "(no CAGR, volatility, Sharpe, Sortino, Calmar, turnover); headline = the per-window "
                "returns (close before the first session -> close after the last), excess over the "
                f"benchmark on the same windows; bootstrap CI {RESAMPLES:,} resamples; {trades}")
    if rf is not None:
        over = f"an annual risk-free rate of {float(rf):.2%}"
    else:
        free = [r.risk_free for r in runs if len(r.risk_free)]
        if free:
            mean_rate = float(np.mean([s.sum() / len(s) * PERIODS_PER_YEAR for s in free]))
            over = (f"the T-bill return the broker pays on cash, session by session (mean {mean_rate:.2%} "
                    "a year)")
        else:
            over = "a zero rate (the runs record no T-bill series)"
    return (f"Sharpe and Sortino: daily excess returns over {over}, x sqrt({PERIODS_PER_YEAR}); CAGR on "
            f"{PERIODS_PER_YEAR}-session years; {trades}")


def metrics_table(
    results: list[RunResult] | RunResult,
    include_benchmark: bool = True,
    periods_per_year: int = PERIODS_PER_YEAR,
    rf=None,
    windows: dict | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """One column per run (named after its strategy) plus "benchmark", rows in ROWS order (WINDOW_ROWS
    when any run is windows-only; `windows` maps a run's column name to its per-window table).

    The index has two levels, (metric, unit), so a number never travels without its unit; the table's
    attrs["convention"] is the line that says how it was measured. When the runs do not share one
    benchmark series (different periods), each gets its own "benchmark (<run>)" column rather than one
    benchmark pretending to cover them all.
    """
    runs = [results] if isinstance(results, RunResult) else list(results)
    if not runs:
        raise RunError("metrics_table needs at least one run")
    windows = windows or {}
    stepped = any(windows_only(run) for run in runs)
    rows = WINDOW_ROWS if stepped else ROWS
    columns: dict[str, dict] = {}
    names = []
    for run in runs:
        name = run.strategy
        suffix = 2
        while name in names:
            name = f"{run.strategy} ({suffix})"
            suffix += 1
        names.append(name)
        figures = summary(run, periods_per_year=periods_per_year, rf=rf, windows=windows.get(name), seed=seed)
        if stepped and not windows_only(run):
            figures = {**dict.fromkeys(k for k, _, _ in rows), **{k: figures.get(k) for k, _, _ in rows}}
        columns[name] = figures
    if include_benchmark:
        def bench(run, name):
            free = risk_free(run) if rf is None else rf
            return benchmark_summary(run.benchmark, periods_per_year, free, windows.get(name), stepped, seed)

        shared = all(run.benchmark.equals(runs[0].benchmark) for run in runs[1:])
        # the benchmark strategy's own column is "benchmark": the index beside it must not replace it
        label = "benchmark (index)" if "benchmark" in names else "benchmark"
        if shared:
            columns[label] = bench(runs[0], names[0])
        else:
            for name, run in zip(names, runs):
                columns[f"benchmark ({name})"] = bench(run, name)
    index = pd.MultiIndex.from_tuples([(label, unit) for _, label, unit in rows], names=["metric", "unit"])
    keys = [key for key, _, _ in rows]
    table = pd.DataFrame(
        {name: [_number(figures.get(key)) for key in keys] for name, figures in columns.items()}, index=index
    )
    table.attrs["convention"] = convention(runs, rf, stepped)
    return table


def _number(value) -> float:
    return math.nan if value is None else float(value)


def format_value(value: float, unit: str) -> str:
    """A metrics-table value as the terminal and the compare report show it: fractions as "12.3%",
    counts whole, turnover "3.45x", currency in whole units, ratios with two decimals, "-" where not
    applicable.

    >>> format_value(0.1234, "fraction/year"), format_value(2.0, "times/year"), format_value(math.nan, "")
    ('12.3%', '2.00x', '-')
    """
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if unit == "fraction/window":  # a window's return is small: a basis point matters
        return f"{value:.2%}"
    if unit.startswith("fraction"):
        return f"{value:.1%}"
    if unit == "count":
        return f"{value:.0f}"
    if unit == "times/year":
        return f"{value:.2f}x"
    if unit == "currency":
        return f"{value:,.0f}"
    return f"{value:.2f}"


def format_table(table: pd.DataFrame) -> str:
    """The metrics table as aligned text for the terminal: fractions as "12.3%", ratios with two
    decimals, turnover as "3.45x" a year, costs in whole account currency, "-" where not applicable.

    >>> t = pd.DataFrame({"run": [0.1234, 1.5]},
    ...                  index=pd.MultiIndex.from_tuples([("CAGR", "fraction/year"), ("Sharpe", "ratio")]))
    >>> print(format_table(t))
    metric    run
    CAGR    12.3%
    Sharpe   1.50
    """
    labels = [label for label, _ in table.index]
    cells = [
        [format_value(float(value), unit) for value in row]
        for (_, unit), row in zip(table.index, table.to_numpy())
    ]
    label_width = max(len("metric"), *(len(label) for label in labels))
    widths = [max(len(str(name)), *(len(row[i]) for row in cells)) for i, name in enumerate(table.columns)]
    header = "metric".ljust(label_width) + "".join(
        "  " + str(name).rjust(width) for name, width in zip(table.columns, widths)
    )
    lines = [header]
    for label, row in zip(labels, cells):
        lines.append(label.ljust(label_width) + "".join("  " + c.rjust(w) for c, w in zip(row, widths)))
    if table.attrs.get("convention"):
        lines.append(f"convention: {table.attrs['convention']}")
    return "\n".join(lines)
