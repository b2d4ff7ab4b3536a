"""Per-instrument lines the strategies read: ATR, realized volatility, the momentum signal.

Pure pandas; the value on session t uses bars up to t's close only (rolling windows end at t).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SESSIONS_PER_YEAR = 252


def average_true_range(frame: pd.DataFrame, sessions: int = 14) -> pd.Series:
    """Wilder's ATR as a simple rolling mean of the true range (max of high-low and the gaps from
    the previous close). For a close-only series the true range is the absolute close change.

    >>> f = pd.DataFrame({"high": [11, 12, 13.0], "low": [9, 10, 11.0], "close": [10, 11, 12.0]})
    >>> average_true_range(f, 2).tolist()
    [nan, 2.0, 2.0]
    """
    prev = frame["close"].shift(1)
    true_range = pd.concat([frame["high"] - frame["low"], (frame["high"] - prev).abs(),
                            (frame["low"] - prev).abs()], axis=1).max(axis=1)
    return true_range.rolling(sessions, min_periods=sessions).mean()


def realized_vol(close: pd.Series, sessions: int = 20) -> pd.Series:
    """Annualised standard deviation of daily log returns over the last `sessions` sessions."""
    log_returns = np.log(close).diff()
    return log_returns.rolling(sessions, min_periods=sessions).std() * np.sqrt(SESSIONS_PER_YEAR)


def momentum_signal(tech_close: pd.Series, index_close: pd.Series, strength_sessions: int = 20,
                    trend_sessions: int = 50) -> pd.Series:
    """1.0 while tech leads: its `strength_sessions` return beats the index's and it closes above its
    `trend_sessions` moving average; 0.0 otherwise; NaN until both are defined.

    The column's scenario 1 ("AI/cloud/semis lead") as a rule a trader can check at each close.
    """
    lead = tech_close.pct_change(strength_sessions) - index_close.pct_change(strength_sessions)
    trend = tech_close - tech_close.rolling(trend_sessions, min_periods=trend_sessions).mean()
    signal = ((lead > 0) & (trend > 0)).astype(float)
    return signal.where(lead.notna() & trend.notna())
