"""Hand-built RunResults for the metrics, reports and outputs tests: seeded returns and a few trades and
orders whose figures are easy to work out by hand (see the constants), including an option round trip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtests.metrics import assign_packages
from backtests.result import ORDER_COLUMNS, TRADE_COLUMNS, RunResult

INITIAL_CASH = 100_000.0
RISK_FREE_PER_SESSION = 1e-4  # the T-bill return of every session, about 2.5% a year
COSTS = {"commission": 12.5, "slippage": 30.25, "option_spread": 8.0, "tax": 4.0}

# Five closed leg round trips and one still open, in three closed position packages and one open:
#   package 1: SPY stock days 0..3 (+250) with QQQ stock days 1..2 (-100)        -> +150
#   package 2: an SPY put days 5..9 (+75) with XLE stock days 6..8 (-25)         -> +50
#   package 3: XLP stock days 11..12 (-60)                                        -> -60
#   package 4: QQQ stock from day 14, open, marked at +39 net
# By hand, legs: wins 250 and 75, so a leg hit rate of 2/5 (stock 1/4, option 1/1), stock profit factor
# 250 / (100 + 25 + 60); packages: hit rate 2/3, profit factor (150 + 50) / 60. Days are calendar days
# from the first session.
TRADE_PNL_NET = [250.0, -100.0, 75.0, -25.0, -60.0]
TRADE_RETURNS = [0.0125, -0.005, 0.107, -0.0125, -0.012]
PACKAGE_PNL_NET = [150.0, 50.0, -60.0]
OPEN_PNL_NET = 39.0
# Traded value of the fills: 100 SPY bought at 200 and sold at 205, 2 put contracts bought at 3.50 and
# sold at 5.00 (x100 shares each), 10 QQQ bought at 100: 20000 + 20500 + 700 + 1000 + 1000.
TRADED_VALUE = 43_200.0


@dataclass(frozen=True)
class StopRule:
    """A settings dataclass like the strategies' parameter classes, to check run.json spells it out."""

    kind: str = "trailing"
    level: float = 0.05


def sessions(count: int, start: str = "2015-01-02") -> pd.DatetimeIndex:
    """Weekday sessions without a frequency, as a calendar's session index has none."""
    return pd.DatetimeIndex(pd.bdate_range(start, periods=count).to_numpy(), name="date")


def make_trades(first: pd.Timestamp) -> pd.DataFrame:
    day = pd.Timedelta(days=1)
    nat = pd.NaT
    # instrument, kind, entry day, exit day, quantity, entry, exit, pnl, pnl_net, commission, return,
    # sessions, exit_reason
    rows = [
        ("SPY", "stock", 0, 3, 100, 200.0, 202.62, 262.0, 250.0, 12.0, 0.0125, 3, "signal"),
        ("QQQ", "stock", 1, 2, 20, 100.0, 95.25, -95.0, -100.0, 5.0, -0.005, 1, "stop-fixed"),
        ("SPY 2015-03-20 P 200", "option", 5, 9, 2, 3.5, 5.0, 300.0, 75.0, 225.0, 0.107, 4, "take-profit"),
        ("XLE", "stock", 6, 8, 10, 50.0, 47.5, -20.0, -25.0, 5.0, -0.0125, 2, "stop-trailing"),
        ("XLP", "stock", 11, 12, 10, 50.0, 44.5, -55.0, -60.0, 5.0, -0.012, 1, "signal"),
        ("QQQ", "stock", 14, None, 10, 100.0, 104.0, 40.0, 39.0, 1.0, 0.039, 4, "open"),
    ]
    frame = pd.DataFrame([
        {"instrument": r[0], "kind": r[1], "entry_date": first + r[2] * day,
         "exit_date": first + r[3] * day if r[3] is not None else nat, "quantity": r[4],
         "entry_price": r[5], "exit_price": r[6], "pnl": r[7], "pnl_net": r[8], "commission": r[9],
         "spread": 0.0, "dividends": 0.0, "return": r[10], "sessions": r[11], "exit_reason": r[12]}
        for r in rows
    ])
    frame.insert(0, "package", assign_packages(frame))
    return frame[TRADE_COLUMNS]


def make_orders(first: pd.Timestamp) -> pd.DataFrame:
    day = pd.Timedelta(days=1)
    expiry = pd.Timestamp("2015-03-20")
    nan = np.nan
    rows = [
        (
            first,
            "SPY",
            "stock",
            "buy",
            100,
            200.0,
            1.0,
            5.0,
            nan,
            pd.NaT,
            "",
            nan,
            nan,
            nan,
            nan,
            nan,
            "entry",
        ),
        (
            first + 7 * day,
            "SPY",
            "stock",
            "sell",
            -100,
            205.0,
            1.0,
            5.0,
            nan,
            pd.NaT,
            "",
            nan,
            nan,
            nan,
            nan,
            nan,
            "signal",
        ),
        (
            first + 2 * day,
            "SPY 2015-03-20 P 200",
            "option",
            "buy",
            2,
            3.5,
            1.3,
            4.0,
            200.0,
            expiry,
            "put",
            0.185,
            -0.42,
            0.021,
            0.31,
            -0.045,
            "hedge",
        ),
        (
            first + 9 * day,
            "SPY 2015-03-20 P 200",
            "option",
            "sell",
            -2,
            5.0,
            1.3,
            4.0,
            200.0,
            expiry,
            "put",
            0.21,
            -0.55,
            0.025,
            0.28,
            -0.06,
            "take-profit",
        ),
        (
            first + 10 * day,
            "QQQ",
            "stock",
            "buy",
            10,
            100.0,
            1.0,
            1.0,
            nan,
            pd.NaT,
            "",
            nan,
            nan,
            nan,
            nan,
            nan,
            "entry",
        ),
    ]
    return pd.DataFrame(rows, columns=ORDER_COLUMNS)


def make_run(
    strategy: str = "momentum",
    count: int = 300,
    seed: int = 7,
    start: str = "2015-01-02",
    drift: float = 4e-4,
) -> RunResult:
    """A run over `count` weekday sessions with returns drawn from a seeded normal distribution."""
    rng = np.random.default_rng(seed)
    index = sessions(count, start)
    returns = pd.Series(rng.normal(drift, 0.011, count), index=index, name="returns")
    benchmark = pd.Series(0.8 * returns.to_numpy() + rng.normal(2e-4, 0.006, count), index=index, name="SPY")
    equity = (INITIAL_CASH * (1.0 + returns).cumprod()).rename("equity")
    exposure = pd.Series(rng.uniform(0.3, 1.2, count), index=index, name="exposure")
    spy_value = (exposure * equity).rename("SPY")
    positions = pd.DataFrame({"SPY": spy_value, "cash": equity - spy_value})
    settings = {
        "strategy": strategy,
        "start": index[0],
        "end": index[-1],
        "stop": StopRule(),
        "symbols": ["SPY", "QQQ"],
        "data": {"source": "embedded", "hash": "0123abcd"},
        "max_leverage": float("inf"),
    }
    return RunResult(
        strategy=strategy,
        returns=returns,
        benchmark=benchmark,
        equity=equity,
        trades=make_trades(index[0]),
        orders=make_orders(index[0]),
        positions=positions,
        exposure=exposure,
        risk_free=pd.Series(RISK_FREE_PER_SESSION, index=index, name="risk_free"),
        costs=dict(COSTS),
        settings=settings,
    )
