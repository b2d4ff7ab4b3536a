"""Judging a strategy window by window.

How a window is traded and measured (the one convention every table and tuning score uses):
a windows-only run decides at the close of the session before the window's first session to hold
positions, so it owns them from the first session's open; it decides at the close of the last
session to leave, so it sells at the next session's open. A window's return therefore runs from
the close of the session before `first` to the close of the session after `last`: the strategy's
whole holding period, and the benchmark's buy-and-hold over the same span.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtests.errors import RunError


def measured_span(window, sessions: pd.DatetimeIndex) -> tuple[int, int]:
    """Positions (start, stop) in `sessions` of the returns that make up the window's return:
    from the session `first` (its return runs from the close before) through the session after
    `last`, clipped to the sessions there are. Sessions are matched by date."""
    start = sessions.searchsorted(window.first, side="left")
    stop = sessions.searchsorted(window.last, side="right") + 1
    return int(start), int(min(stop, len(sessions)))


def window_returns(returns: pd.Series, windows) -> pd.Series:
    """Compounded return of each window (see the module docstring), indexed by event date.

    >>> from data.windows import Window
    >>> days = pd.bdate_range("2018-01-01", periods=6)
    >>> r = pd.Series([0.5, 0.1, 0.1, 0.1, 0.5, 0.5], index=days)
    >>> w = Window("x", days[2], days[1], days[2], 2)
    >>> round(float(window_returns(r, [w]).iloc[0]), 6)     # sessions 1, 2, 3: 1.1 ** 3 - 1
    0.331
    """
    if not windows:
        raise RunError("no windows to evaluate")
    sessions = pd.DatetimeIndex(returns.index)
    growth = np.concatenate([[0.0], np.cumsum(np.log1p(returns.to_numpy(float)))])
    values = []
    for w in windows:
        start, stop = measured_span(w, sessions)
        values.append(np.expm1(growth[stop] - growth[start]) if stop > start else np.nan)
    return pd.Series(values, index=pd.DatetimeIndex([w.event for w in windows], name="event"),
                     name="window_return")
