"""The one result type that leaves the runner; every report, table and tuning score reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

TRADE_COLUMNS = [
    # one row per leg round trip: a stock or one option contract from the fill that opens it from flat
    # to the fill that leaves it flat (partial closes and adds in between belong to it); legs still
    # open at the end are marked at the last close and have no exit_date
    "package",  # the position package the leg belongs to (backtests.metrics.assign_packages)
    "instrument",  # symbol, or option id such as "SPX 2018-12-21 P 2500"
    "kind",  # "stock" or "option"
    "entry_date",
    "exit_date",  # NaT: still open at the end, marked at the last close
    "quantity",  # largest size held, shares or contracts, negative for short
    "entry_price",  # average price of the opening fills (options: per share, x100 a contract)
    "exit_price",  # average price of the closing fills (or the last mark)
    "pnl",  # profit at fill prices (they hold slippage and the option half-spread) plus the dividends
    # a stock leg earned while held (short: paid), account currency
    "pnl_net",  # pnl less commissions: the spread and slippage are in the fill prices, counted once
    "commission",  # commissions of all its fills
    "spread",  # option half-spreads inside the fill prices (information; already in pnl)
    "dividends",  # dividends a stock leg earned while held (information; already in pnl)
    "return",  # pnl_net over the capital at entry: stock cost, or the option premium paid/received
    "sessions",  # sessions held
    "exit_reason",  # "signal", "stop-fixed", "stop-trailing", "stop-atr", "stop-time", "take-profit",
    # "expiry", "open", ...
]

ORDER_COLUMNS = [
    "date",  # session of the fill
    "instrument",
    "kind",
    "side",  # "buy" or "sell"
    "quantity",
    "price",
    "commission",
    "slippage",  # cost of slippage and half-spread in account currency
    "strike",  # options only, else NaN
    "expiry",  # options only, else NaT
    "option_type",  # "call" / "put" / ""
    "implied_vol",
    "delta",
    "gamma",
    "vega",
    "theta",
    "reason",
]


@dataclass(frozen=True)
class RunResult:
    """What a backtest produced, with everything needed to repeat it.

    returns    daily strategy returns as fractions, on a tz-naive session index
    benchmark  daily benchmark (buy-and-hold index proxy) returns on the same index
    equity     broker value at each session's close, options marked to model
    trades     one row per leg round trip (closed, or open at the end and marked), TRADE_COLUMNS
    orders     one row per fill, stocks and options, columns ORDER_COLUMNS
    positions  value held per instrument at each close: one column per traded symbol, "cash", and
               for option strategies "options" (their marked value) and "options_delta" (their
               net delta in account currency: the stock-equivalent exposure of the hedge) and
               "options_notional" (|contracts| x multiplier x index level, account currency)
    exposure   gross stock weight (sum of |stock position values| / equity) at each close
    risk_free  the T-bill return of each session (the rate known at the previous close over the
               calendar days since, as the broker pays it on cash; 0 on the first session and across
               the gap before a window): what Sharpe and Sortino are measured over
    costs      totals paid in account currency: commission, slippage, option_spread, tax
    settings   every setting of the run, the data source and a hash of the data (for run.json)
    """

    strategy: str
    returns: pd.Series
    benchmark: pd.Series
    equity: pd.Series
    trades: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TRADE_COLUMNS))
    orders: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ORDER_COLUMNS))
    positions: pd.DataFrame = field(default_factory=pd.DataFrame)
    exposure: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    risk_free: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    costs: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @cached_property
    def metrics(self) -> dict:
        """The figures `cli.py backtest` prints and run.json stores (backtests.metrics.summary):
        cagr, sharpe (over the T-bill returns), sortino, max_drawdown, volatility, trade and book
        figures. A windows-only run has no annualised figure (its strung-together windows are not
        a year of returns): its per-window figures come with backtests.windows_eval.window_table."""
        from backtests.metrics import summary  # metrics reads this module

        return summary(self)

    def save(self, out_dir, tearsheet: bool = False, overwrite: bool = False, windows=None):
        """Write the files `cli.py backtest` writes (returns.csv, trades.csv, orders.csv,
        positions.csv, packages.csv, equity.png, run.json, and the tearsheet if asked) into out_dir;
        return its path (backtests.outputs.write_run)."""
        from backtests.outputs import write_run

        return write_run(self, out_dir, tearsheet=tearsheet, overwrite=overwrite, windows=windows,
                         seed=int(self.settings.get("seed", 0) or 0))
