"""The one result type that leaves the runner; every report, table and tuning score reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

TRADE_COLUMNS = [
    "instrument",  # symbol, or option id such as "SPX 2018-12-21 P 2500"
    "kind",  # "stock" or "option"
    "entry_date",
    "exit_date",
    "quantity",  # shares or contracts, negative for short
    "entry_price",
    "exit_price",
    "pnl",  # gross profit in account currency
    "pnl_net",  # after commissions, slippage and option spread
    "return",  # pnl_net over the capital the trade used at entry
    "sessions",  # sessions held
    "exit_reason",  # "signal", "stop-fixed", "stop-trailing", "stop-atr", "stop-time", "take-profit", ...
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
    trades     one row per closed round trip, columns TRADE_COLUMNS
    orders     one row per fill, stocks and options, columns ORDER_COLUMNS
    positions  value held per instrument at each close: one column per traded symbol, "cash", and
               for option strategies "options" (their marked value) and "options_delta" (their
               net delta in account currency: the stock-equivalent exposure of the hedge)
    exposure   gross exposure (sum of absolute position values / equity) at each close
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
    costs: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
