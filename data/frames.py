"""The one shape every source hands back, and the small helpers that build it.

A price frame is daily, indexed by session date (tz-naive midnight, named "date"), with the float64
columns in COLUMNS, the boolean column REAL_OPEN, and `attrs` describing where it came from. Sources
build frames only through `price_frame` and `close_only_frame`, so the shape is defined in one place,
and `real_open_mask` is the one rule saying which opens are real prints.
"""

from __future__ import annotations

import datetime
import re

import numpy as np
import pandas as pd

from data.errors import DataError

COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]
SOURCES = ("embedded", "yahoo", "csv")
# True where the session's open is a real print; False on a stale open (the open repeats the previous
# close) and on every row that carries only a close. The engine fills orders at a real price only
# (see docs/data.md, "Fills: the close-only rule").
REAL_OPEN = "real_open"
# Same tolerance as validation's OHLC check: equal printed values after decimal-to-binary rounding.
STALE_RTOL = 1e-9

# Values above this are taken as quoted x 10 (percent x 10), see data.macro's docstring.
YIELD_X10_THRESHOLD = 20.0


def yield_percent(values) -> np.ndarray:
    """A Yahoo yield index quote in percent, undoing the x 10 quoting where it was used.

    >>> yield_percent([4.15, 41.5, 15.8]).tolist()
    [4.15, 4.15, 15.8]
    """
    values = np.asarray(values, dtype="float64")
    return np.where(values > YIELD_X10_THRESHOLD, values / 10.0, values)

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

# Every index leaves at nanosecond resolution whatever the parser chose (pandas 3 parses to
# microseconds, pandas 2 to nanoseconds), so frames from different sources compare equal.
INDEX_UNIT = "ns"


def to_date(value, what: str = "date") -> pd.Timestamp | None:
    """A boundary date as a tz-naive midnight Timestamp, or None; bad input is a DataError.

    The one date parser of options, config files and the API: text must be ISO, YYYY-MM-DD, so that
    01/12/2018 (January 12 or December 1?) is never guessed and "now" or "today" never makes a run
    depend on when it was started. Dates (datetime.date, pd.Timestamp, numpy datetime64) pass as they are.

    >>> to_date("2018-12-21")
    Timestamp('2018-12-21 00:00:00')
    >>> to_date(None) is None
    True
    >>> to_date("01/12/2018", "--start")
    Traceback (most recent call last):
    ...
    data.errors.DataError: --start '01/12/2018' is not a date written YYYY-MM-DD, e.g. 2018-12-21
    """
    if value is None:
        return None
    problem = f"{what} {value!r} is not a date written YYYY-MM-DD, e.g. 2018-12-21"
    if isinstance(value, str):
        text = value.strip()
        if not _ISO_DAY.fullmatch(text):
            raise DataError(problem)
        try:
            return pd.Timestamp(datetime.date.fromisoformat(text))
        except ValueError:
            raise DataError(problem) from None
    if not isinstance(value, (datetime.date, np.datetime64)):
        raise DataError(problem)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(problem) from exc
    if stamp is pd.NaT:
        raise DataError(problem)
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


def stale_open_mask(open_, close) -> np.ndarray:
    """True where the open equals the previous session's close (to float rounding): a vendor that
    had no opening print repeated yesterday's close. The first row has no previous close: False.

    >>> stale_open_mask([100.0, 101.0, 101.5], [101.0, 102.0, 101.0]).tolist()
    [False, True, False]
    """
    o = np.asarray(open_, dtype="float64")
    c = np.asarray(close, dtype="float64")
    out = np.zeros(o.shape, dtype=bool)
    if o.size > 1:
        out[1:] = np.isclose(o[1:], c[:-1], rtol=STALE_RTOL, atol=0.0)
    return out


def close_only_rows(open_, high, low, close) -> np.ndarray:
    """True on rows that carry only a close: open, high and low all equal to it (no range, no gap)."""
    o, h, lo, c = (np.asarray(x, dtype="float64") for x in (open_, high, low, close))
    return (o == c) & (h == c) & (lo == c)


def real_open_mask(open_, high, low, close, close_only: bool = False) -> np.ndarray:
    """The one rule for REAL_OPEN: False on every row of a close-only series, on rows that carry
    only a close (a close-only segment of a spliced history), and on stale opens; True elsewhere.

    >>> real_open_mask([100.0, 101.0, 101.5, 99.0], [101.0, 102.0, 102.0, 99.0],
    ...                [99.5, 100.5, 100.8, 99.0], [101.0, 102.0, 101.0, 99.0]).tolist()
    [True, False, True, False]
    """
    o = np.asarray(open_, dtype="float64")
    if close_only:
        return np.zeros(o.shape, dtype=bool)
    return ~(stale_open_mask(o, close) | close_only_rows(o, high, low, close))


def price_frame(
    data: pd.DataFrame,
    *,
    symbol: str,
    source: str,
    proxy: str,
    close_only: bool = False,
    has_volume: bool = True,
    real_open=None,
) -> pd.DataFrame:
    """Canonical frame from a table that already has the COLUMNS (any dtype, any date index).

    REAL_OPEN is computed here by `real_open_mask`; a source that knows more (a history spliced from
    an OHLC part and a close-only part) passes `real_open`, which can only turn rows False.
    """
    missing = [column for column in COLUMNS if column not in data.columns]
    if missing:
        raise DataError(f"{source} data for {symbol} lacks the column(s) {', '.join(missing)}")
    frame = pd.DataFrame(
        {column: np.asarray(data[column], dtype="float64") for column in COLUMNS},
        index=session_index(data.index),
    )
    real = real_open_mask(frame["open"], frame["high"], frame["low"], frame["close"], close_only)
    if real_open is not None:
        real &= np.asarray(real_open, dtype=bool)
    frame[REAL_OPEN] = real
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
    >>> f.loc["2018-01-03", COLUMNS].tolist(), f.attrs["close_only"], f["real_open"].any()
    ([101.5, 101.5, 101.5, 101.5, 101.5, 0.0], True, np.False_)
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
