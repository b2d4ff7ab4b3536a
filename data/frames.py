"""The one shape every source hands back, and the small helpers that build it.

A price frame is daily, indexed by session date (tz-naive midnight, named "date"), with the float64
columns in COLUMNS and `attrs` describing where it came from. Sources build frames only through
`price_frame` and `close_only_frame`, so the shape is defined in one place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.errors import DataError

COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]
SOURCES = ("embedded", "yahoo", "csv")

# Every index leaves at nanosecond resolution whatever the parser chose (pandas 3 parses to
# microseconds, pandas 2 to nanoseconds), so frames from different sources compare equal.
INDEX_UNIT = "ns"


def to_date(value, what: str = "date") -> pd.Timestamp | None:
    """A boundary date as a tz-naive midnight Timestamp, or None; bad input is a DataError.

    >>> to_date("2018-12-21")
    Timestamp('2018-12-21 00:00:00')
    >>> to_date(None) is None
    True
    """
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{what} {value!r} is not a date; use YYYY-MM-DD") from exc
    if stamp is pd.NaT:
        raise DataError(f"{what} {value!r} is not a date; use YYYY-MM-DD")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


def session_index(index) -> pd.DatetimeIndex:
    """Dates as a tz-naive, midnight, nanosecond DatetimeIndex named "date".

    A tz-aware index keeps its local wall-clock date (a Yahoo daily bar stamped 00:00 New York time
    belongs to that New York date, not to the UTC date 5 hours later).
    """
    index = pd.DatetimeIndex(index)
    if index.tz is not None:
        index = index.tz_localize(None)
    return index.normalize().as_unit(INDEX_UNIT).rename("date")


def price_frame(
    data: pd.DataFrame,
    *,
    symbol: str,
    source: str,
    proxy: str,
    close_only: bool = False,
    has_volume: bool = True,
) -> pd.DataFrame:
    """Canonical frame from a table that already has the COLUMNS (any dtype, any date index)."""
    missing = [column for column in COLUMNS if column not in data.columns]
    if missing:
        raise DataError(f"{source} data for {symbol} lacks the column(s) {', '.join(missing)}")
    frame = pd.DataFrame(
        {column: np.asarray(data[column], dtype="float64") for column in COLUMNS},
        index=session_index(data.index),
    )
    frame.attrs = {
        "symbol": symbol,
        "source": source,
        "proxy": proxy,
        "close_only": bool(close_only),
        "has_volume": bool(has_volume),
    }
    return frame


def close_only_frame(close: pd.Series, *, symbol: str, source: str, proxy: str) -> pd.DataFrame:
    """Frame for a series that has only a close: open = high = low = close = adj_close, volume 0.

    The close_only flag tells consumers that intraday range and gaps are unknown, not zero.

    >>> s = pd.Series([100.0, 101.5], index=pd.to_datetime(["2018-01-02", "2018-01-03"]))
    >>> f = close_only_frame(s, symbol="XLE", source="embedded", proxy="basket")
    >>> f.loc["2018-01-03"].tolist(), f.attrs["close_only"]
    ([101.5, 101.5, 101.5, 101.5, 101.5, 0.0], True)
    """
    values = np.asarray(close, dtype="float64")
    data = pd.DataFrame(
        {
            "open": values,
            "high": values,
            "low": values,
            "close": values,
            "adj_close": values,
            "volume": np.zeros(len(values)),
        },
        index=close.index,
    )
    return price_frame(data, symbol=symbol, source=source, proxy=proxy, close_only=True, has_volume=False)


def restrict(frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    """Rows with start <= date <= end (both inclusive), keeping attrs."""
    mask = np.ones(len(frame), dtype=bool)
    if start is not None:
        mask &= frame.index >= start
    if end is not None:
        mask &= frame.index <= end
    out = frame.loc[mask].copy()
    out.attrs = dict(frame.attrs)
    return out
