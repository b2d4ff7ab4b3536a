"""Performance figures of a run, computed here with pandas/numpy so every number in the table has one
definition we can state and test.

Conventions (chosen to agree with quantstats 0.0.86, so the tearsheet and our table tell the same story;
tests/test_metrics.py checks each against quantstats' own function):

- daily returns are fractions; a year is `periods_per_year` sessions (252), not calendar days;
- CAGR = (1 + total return) ** (periods_per_year / sessions) - 1, i.e. years = sessions / 252;
- volatility = sample standard deviation (ddof=1) of daily returns * sqrt(252);
- the annual risk-free rate `rf` becomes a per-session rate geometrically, (1 + rf) ** (1/252) - 1,
  and is subtracted from each daily return to give excess returns (Sharpe and Sortino only);
- Sharpe = mean(excess) / std(excess, ddof=1) * sqrt(252);
- Sortino = mean(excess) / downside deviation * sqrt(252), where the downside deviation is
  sqrt(sum(min(excess, 0) ** 2) / N) over ALL N sessions (Sortino & Price's target semi-deviation with
  target 0, as quantstats 0.0.86 computes it; not the std of the negative days only);
- max drawdown is measured from an equity of 1.0 before the first session, so a loss on day one counts;
  it is a negative fraction (-0.25 is a 25% fall from the running peak);
- Calmar = CAGR / |max drawdown|.
A ratio whose denominator is zero (no variation, no drawdown, no losing trade) is NaN, not infinity,
except the profit factor with wins and no losses, which is infinite by its definition.
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

# (key, label, unit) in the order the table prints them. Units say how the stored value reads:
# "fraction" 0.123 is 12.3%; "fraction/year" is a compound annual rate; "times/year" is turnover.
ROWS = (
    ("cagr", "CAGR", "fraction/year"),
    ("total_return", "Total return", "fraction"),
    ("volatility", "Volatility (ann.)", "fraction/year"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("max_drawdown", "Max drawdown", "fraction"),
    ("calmar", "Calmar", "ratio"),
    ("best_day", "Best day", "fraction"),
    ("worst_day", "Worst day", "fraction"),
    ("exposure", "Exposure (mean gross)", "fraction"),
    ("trades", "Trades (closed)", "count"),
    ("hit_rate", "Hit rate", "fraction"),
    ("avg_win", "Avg win (per trade)", "fraction"),
    ("avg_loss", "Avg loss (per trade)", "fraction"),
    ("profit_factor", "Profit factor", "ratio"),
    ("turnover", "Turnover", "times/year"),
    ("costs_paid", "Costs paid", "currency"),
)
_TRADE_KEYS = ("trades", "hit_rate", "avg_win", "avg_loss", "profit_factor", "turnover", "costs_paid")


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


def performance(returns: pd.Series, periods_per_year: int = PERIODS_PER_YEAR, rf: float = 0.0) -> dict:
    """Return-based figures of one daily return series (see the module docstring for each definition).

    rf is an annual risk-free rate as a fraction; it enters Sharpe and Sortino only, as in quantstats.

    >>> figures = performance(pd.Series([0.1, -0.05, 0.02]))
    >>> round(figures["total_return"], 6), round(figures["max_drawdown"], 6)
    (0.0659, -0.05)
    """
    values = _check_returns(returns)
    sessions = len(values)
    root_year = math.sqrt(periods_per_year)

    wealth = float(np.prod(1.0 + values.to_numpy()))
    years = sessions / periods_per_year
    # Below zero (a loss beyond the whole account on a leveraged day) there is no real growth rate.
    cagr = wealth ** (1.0 / years) - 1.0 if wealth >= 0 else math.nan

    spread = values.std(ddof=1) if sessions > 1 else math.nan
    excess = values - ((1.0 + rf) ** (1.0 / periods_per_year) - 1.0)
    excess_spread = excess.std(ddof=1) if sessions > 1 else math.nan
    mean_excess = float(excess.mean())
    sharpe = mean_excess / excess_spread * root_year if excess_spread > _ZERO_SPREAD else math.nan
    downside = math.sqrt(float((excess.clip(upper=0.0) ** 2).sum()) / sessions)
    sortino = mean_excess / downside * root_year if downside > _ZERO_SPREAD else math.nan

    max_drawdown = float(drawdown_series(values).min())
    calmar = cagr / abs(max_drawdown) if max_drawdown < 0 else math.nan
    return {
        "total_return": wealth - 1.0,
        "cagr": cagr,
        "volatility": float(spread * root_year),
        "sharpe": float(sharpe),
        "sortino": float(sortino),
        "max_drawdown": max_drawdown,
        "calmar": float(calmar),
        "best_day": float(values.max()),
        "worst_day": float(values.min()),
    }


def trade_stats(trades: pd.DataFrame) -> dict:
    """Round-trip figures from the trades table (columns as backtests.result.TRADE_COLUMNS).

    Only closed trades count (a row without an exit_date is a position still open at the end). A trade
    wins when its pnl_net (after all costs) is above zero; a breakeven trade is not a win.
    hit_rate = wins / closed trades; avg_win / avg_loss = mean "return" of the winning / losing trades
    (fractions of the capital each used); profit_factor = sum of net wins / |sum of net losses|.

    >>> t = pd.DataFrame({"exit_date": pd.to_datetime(["2020-01-03"] * 3), "pnl_net": [30.0, -10.0, 0.0],
    ...                   "return": [0.03, -0.01, 0.0]})
    >>> s = trade_stats(t)
    >>> s["trades"], round(s["hit_rate"], 4), s["profit_factor"]
    (3, 0.3333, 3.0)
    """
    for column in ("exit_date", "pnl_net", "return"):
        if column not in trades.columns:
            raise RunError(f"the trades table has no {column!r} column (it has {list(trades.columns)})")
    closed = trades[trades["exit_date"].notna()]
    pnl = closed["pnl_net"].astype("float64")
    trade_return = closed["return"].astype("float64")
    wins, losses = pnl > 0, pnl < 0
    gross_win, gross_loss = float(pnl[wins].sum()), float(-pnl[losses].sum())
    if gross_loss > 0:
        profit_factor = gross_win / gross_loss
    else:
        profit_factor = math.inf if gross_win > 0 else math.nan
    count = len(closed)
    return {
        "trades": count,
        "hit_rate": float(wins.sum()) / count if count else math.nan,
        "avg_win": float(trade_return[wins].mean()) if wins.any() else math.nan,
        "avg_loss": float(trade_return[losses].mean()) if losses.any() else math.nan,
        "profit_factor": profit_factor,
    }


def exposure(result: RunResult) -> float:
    """Mean gross exposure (sum of |position values| / equity) over the run's closes; NaN if not recorded."""
    recorded = result.exposure.dropna()
    return float(recorded.mean()) if len(recorded) else math.nan


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


def summary(result: RunResult, periods_per_year: int = PERIODS_PER_YEAR, rf: float = 0.0) -> dict:
    """Every figure of the metrics table for one run, keyed as ROWS (what run.json stores)."""
    figures = performance(result.returns, periods_per_year=periods_per_year, rf=rf)
    figures.update(trade_stats(result.trades))
    figures["exposure"] = exposure(result)
    figures["turnover"] = turnover(result, periods_per_year=periods_per_year)
    figures["costs_paid"] = costs_paid(result)
    return {key: figures[key] for key, _, _ in ROWS}


def benchmark_summary(
    benchmark: pd.Series, periods_per_year: int = PERIODS_PER_YEAR, rf: float = 0.0
) -> dict:
    """Figures of the buy-and-hold benchmark: fully invested (exposure 1.0), trade rows not applicable."""
    figures = performance(benchmark, periods_per_year=periods_per_year, rf=rf)
    figures["exposure"] = 1.0
    figures.update({key: math.nan for key in _TRADE_KEYS})
    return {key: figures[key] for key, _, _ in ROWS}


def metrics_table(
    results: list[RunResult] | RunResult,
    include_benchmark: bool = True,
    periods_per_year: int = PERIODS_PER_YEAR,
    rf: float = 0.0,
) -> pd.DataFrame:
    """One column per run (named after its strategy) plus "benchmark", rows in ROWS order.

    The index has two levels, (metric, unit), so a number never travels without its unit. When the runs
    do not share one benchmark series (different periods), each gets its own "benchmark (<run>)" column
    rather than one benchmark pretending to cover them all.
    """
    runs = [results] if isinstance(results, RunResult) else list(results)
    if not runs:
        raise RunError("metrics_table needs at least one run")
    columns: dict[str, dict] = {}
    names = []
    for run in runs:
        name = run.strategy
        suffix = 2
        while name in names:
            name = f"{run.strategy} ({suffix})"
            suffix += 1
        names.append(name)
        columns[name] = summary(run, periods_per_year=periods_per_year, rf=rf)
    if include_benchmark:
        shared = all(run.benchmark.equals(runs[0].benchmark) for run in runs[1:])
        if shared:
            columns["benchmark"] = benchmark_summary(runs[0].benchmark, periods_per_year, rf)
        else:
            for name, run in zip(names, runs):
                columns[f"benchmark ({name})"] = benchmark_summary(run.benchmark, periods_per_year, rf)
    index = pd.MultiIndex.from_tuples([(label, unit) for _, label, unit in ROWS], names=["metric", "unit"])
    keys = [key for key, _, _ in ROWS]
    return pd.DataFrame(
        {name: [float(figures[key]) for key in keys] for name, figures in columns.items()}, index=index
    )


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
    return "\n".join(lines)
