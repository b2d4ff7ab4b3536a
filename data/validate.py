"""Checks every frame passes before anything uses it.

Each broken rule is a DataError of one line naming the source, symbol, first offending date and rule.
Nothing is repaired here: a gap is reported, not filled; a close outside [low, high] is reported, not
clipped. The only tolerance is for float representation (OHLC_RTOL), far below any real data error.
Dates are checked against the series' own dates, not an exchange calendar, so a source with a
different holiday set (an index, a foreign listing) still validates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.errors import DataError
from data.frames import (
    COLUMNS,
    PRICE_COLUMNS,
    REAL_OPEN,
    close_only_rows,
    restrict,
    stale_open_mask,
    yield_percent,
)
from data.universe import RATE_SYMBOLS, UNIVERSE, VOLATILITY_SYMBOLS, canonical_symbol

RULE_SORTED = "dates sorted ascending"
RULE_UNIQUE = "dates unique"
RULE_NO_GAPS = "no missing values"
RULE_POSITIVE = "prices positive"
RULE_FINITE = "values finite"
RULE_OHLC = "low <= open, close <= high"
RULE_VOLUME = "volume non-negative"
RULE_HISTORY = "history covers start"
RULE_ROWS = "rows in range"
RULE_REAL_OPEN = "real_open flags every row"
RULE_MOVE = "single-session move within bound"
RULE_VOLUME_OUTLIER = "volume within bound"

# The largest single-session move a price may make from the previous close (open, high, low or close),
# as |log(price / previous close)|, per kind of series. Beyond it a row is a data error (a misplaced
# decimal, a price in cents, an unadjusted split), not a market move: a 1e9 close in a series near 100
# is a log move of 16. Each bound sits well above the largest real move of its kind:
# - index: an index, ETF or sector basket. The S&P 500's worst session, 1987-10-19, was -20.5%
#   (log 0.229); the embedded history's largest are XLF's two-stock basket on 2009-01-20 (log 0.286)
#   and QQQ's 1990s tech-basket stand-in on 1992-06-18 (0.155). 0.35 is a 30% fall or a 42% rise.
# - stock: one company. Real single-session moves reach a halving or a doubling (AAPL -52% on
#   2000-09-29, log 0.731; RRC x3 on 1990-04-10, log 1.099 in skfolio's large caps); ln 5 = 1.61 (an
#   80% fall or a fivefold rise) keeps every one while a decimal slip (log 2.3) or more is refused.
# - volatility: VIX and its kin. VIX's largest rise was +115.6% on 2018-02-05 (log 0.768); ln 3 = 1.10.
# - rate: a yield index is checked in percentage points (x 10 quotes read as data.frames.yield_percent
#   does), not by ratio (a bill yield of 0.01 doubling is nothing): the 10-year yield's largest session
#   moves were about 0.75 points (1980-1987); a change of more than 3 points is refused, and so is a
#   level outside -5% .. 30% after the x 10 reading (the 1981 peak was 15.8%).
MOVE_BOUNDS = {"index": 0.35, "stock": float(np.log(5.0)), "volatility": float(np.log(3.0))}
RATE_MOVE_POINTS = 3.0
RATE_LEVELS = (-5.0, 30.0)
# Volume: a session trading more than this many times the median of the 250 sessions around it (its
# nonzero volumes) is refused. The heaviest real sessions are a few times the median (SPY's at most 2.4x
# in the embedded history; index rebalances and the 1987 and 2010 crashes 3-5x); 50x is a unit error.
VOLUME_TIMES_MEDIAN = 50.0
# A move is a session's only between rows at most this many calendar days apart: the longest US market
# closure since 1990 ran from 2001-09-10 to 2001-09-17 (7 days); across a longer hole in a file the
# price has had months or years to move, and the hole itself is the file's fact, not a bad price.
MOVE_MAX_DAYS = 10
VOLUME_MEDIAN_SESSIONS = 250

# A year's share of stale opens is worth a line of `data validate` from this share up: below it the
# "stale" opens are the odd real open that printed at exactly the previous close.
STALE_MATERIAL = 0.05

# 1e-9 relative absorbs decimal-to-binary rounding of equal printed values, nothing more: the smallest
# real violation seen in vendor data (a close a cent outside the range) is ~1e-5 relative.
OHLC_RTOL = 1e-9

# A start on a weekend, a holiday or the first days of a year the data begins on is fine; more than
# this many weekdays (sessions, give or take holidays) before the first row means the history asked
# for does not exist.
START_SLACK_SESSIONS = 5


def _day(stamp) -> str:
    return pd.Timestamp(stamp).strftime("%Y-%m-%d")


def _span(start, end) -> str:
    begin = _day(start) if start is not None else "the beginning"
    finish = _day(end) if end is not None else "the end"
    return f"from {begin} to {finish}"


def _fail(origin: str, symbol: str, day, rule: str, detail: str) -> DataError:
    where = f" on {_day(day)}" if day is not None else ""
    return DataError(f"{origin} {symbol}{where} breaks rule '{rule}': {detail}")


def check_dates(frame: pd.DataFrame, symbol: str, origin: str) -> None:
    """Sorted, unique dates over the whole series (a shuffled file is wrong wherever you cut it).

    >>> f = pd.DataFrame({"close": [1.0, 2.0]}, index=pd.to_datetime(["2018-01-03", "2018-01-02"]))
    >>> check_dates(f, "SPY", "csv file SPY.csv")
    Traceback (most recent call last):
    ...
    data.errors.DataError: csv file SPY.csv SPY on 2018-01-02 breaks rule 'dates sorted ascending': \
it follows 2018-01-03
    """
    index = frame.index
    if len(index) < 2:
        return
    values = index.to_numpy()
    backwards = np.flatnonzero(values[1:] < values[:-1])
    if len(backwards):
        i = backwards[0] + 1
        raise _fail(origin, symbol, index[i], RULE_SORTED, f"it follows {_day(index[i - 1])}")
    repeated = np.flatnonzero(values[1:] == values[:-1])
    if len(repeated):
        i = repeated[0] + 1
        count = int(index.duplicated().sum())
        detail = f"the date appears twice ({count} repeated row(s))"
        raise _fail(origin, symbol, index[i], RULE_UNIQUE, detail)


def check_values(frame: pd.DataFrame, symbol: str, origin: str, *, rate: bool = False) -> None:
    """Values in the rows given: no gaps, positive prices (finite for a rate), OHLC order, volume >= 0.

    `rate` is for yield indexes (^TNX, ^IRX): a yield of zero or below is a real value, not an error.
    """
    values = frame[COLUMNS]
    missing = values.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing.any(axis=1))
        first = rows[0]
        columns = [c for c, bad in zip(COLUMNS, missing[first]) if bad]
        raise _fail(
            origin,
            symbol,
            frame.index[first],
            RULE_NO_GAPS,
            f"{', '.join(columns)} missing; {len(rows)} row(s) with gaps between "
            f"{_day(frame.index[rows[0]])} and {_day(frame.index[rows[-1]])} (gaps are not filled)",
        )
    prices = frame[PRICE_COLUMNS].to_numpy()
    if rate:
        bad = ~np.isfinite(prices)
        rule, what = RULE_FINITE, "not finite"
    else:
        bad = ~(prices > 0) | ~np.isfinite(prices)
        rule, what = RULE_POSITIVE, "not a positive number"
    if bad.any():
        row, col = np.argwhere(bad)[0]
        bad_rows = int(bad.any(axis=1).sum())
        raise _fail(
            origin,
            symbol,
            frame.index[row],
            rule,
            f"{PRICE_COLUMNS[col]} = {float(prices[row, col])!r} is {what} ({bad_rows} row(s))",
        )
    o, h, lo, c = (frame[name].to_numpy() for name in ("open", "high", "low", "close"))
    top = np.maximum(np.maximum(o, c), lo)
    bottom = np.minimum(o, c)
    broken = (top > h + OHLC_RTOL * np.abs(h)) | (lo > bottom + OHLC_RTOL * np.abs(bottom))
    if broken.any():
        rows = np.flatnonzero(broken)
        i = rows[0]
        raise _fail(
            origin,
            symbol,
            frame.index[i],
            RULE_OHLC,
            f"open {float(o[i])!r}, high {float(h[i])!r}, low {float(lo[i])!r}, close {float(c[i])!r} "
            f"({len(rows)} row(s))",
        )
    volume = frame["volume"].to_numpy()
    negative = np.flatnonzero(~(volume >= 0) | ~np.isfinite(volume))
    if len(negative):
        i = negative[0]
        raise _fail(origin, symbol, frame.index[i], RULE_VOLUME, f"volume = {float(volume[i])!r}")


def check_moves(frame: pd.DataFrame, symbol: str, origin: str, kind: str) -> None:
    """No single-session move beyond MOVE_BOUNDS[kind] (rates: RATE_MOVE_POINTS and RATE_LEVELS) from the
    previous close (the row before, if at most MOVE_MAX_DAYS earlier), for the open, high, low and
    close; no volume beyond VOLUME_TIMES_MEDIAN.

    >>> f = pd.DataFrame({c: [100.0, 101.0, 1e9, 102.0] for c in ("open", "high", "low", "close")},
    ...                  index=pd.bdate_range("2018-06-04", periods=4))
    >>> f["volume"] = 0.0
    >>> check_moves(f, "SPY", "csv file SPY.csv", "index")
    Traceback (most recent call last):
    ...
    data.errors.DataError: csv file SPY.csv SPY on 2018-06-06 breaks rule 'single-session move within \
bound': open 1000000000.0 after a close of 101.0 the session before (|log move| 16.1 > 0.35, the bound \
for an index or ETF); 2 row(s)
    """
    if kind not in (*MOVE_BOUNDS, "rate"):
        raise ValueError(f"unknown kind of series {kind!r}")
    columns = ("open", "high", "low", "close")
    values = frame[list(columns)].to_numpy(dtype="float64")
    if kind == "rate":
        values = yield_percent(values)
        low, high = RATE_LEVELS
        outside = (values < low) | (values > high)
        if outside.any():
            row, col = np.argwhere(outside)[0]
            detail = (f"{columns[col]} {float(frame[columns[col]].iloc[row])!r} reads as a yield of "
                      f"{values[row, col]:.2f}%, outside {low:g}% .. {high:g}%; "
                      f"{int(outside.any(axis=1).sum())} row(s)")
            raise _fail(origin, symbol, frame.index[row], RULE_MOVE, detail)
    if len(values) > 1:
        previous = values[:-1, 3:4]
        if kind == "rate":
            moves = np.abs(values[1:] - previous)
            bound, unit, what = RATE_MOVE_POINTS, " points", "a yield index"
        else:
            moves = np.abs(np.log(values[1:] / previous))
            bound, unit, what = MOVE_BOUNDS[kind], "", {"index": "an index or ETF", "stock": "a single stock",
                                                      "volatility": "a volatility index"}[kind]
        days = np.diff(frame.index.to_numpy()).astype("timedelta64[D]").astype(float)
        beyond = (moves > bound) & (days <= MOVE_MAX_DAYS)[:, None]
        if beyond.any():
            row, col = np.argwhere(beyond)[0]
            shown = frame[columns[col]].iloc[row + 1]
            measure = "change" if kind == "rate" else "|log move|"
            detail = (f"{columns[col]} {float(shown)!r} after a close of {float(frame['close'].iloc[row])!r} "
                      f"the session before ({measure} {moves[row, col]:.3g}{unit} > {bound:.3g}{unit}, the "
                      f"bound for {what}); {int(beyond.any(axis=1).sum())} row(s)")
            raise _fail(origin, symbol, frame.index[row + 1], RULE_MOVE, detail)
    volume = pd.Series(frame["volume"].to_numpy(dtype="float64"), index=frame.index)
    traded = volume.where(volume > 0)
    if traded.notna().sum() >= 20:
        median = traded.rolling(VOLUME_MEDIAN_SESSIONS, min_periods=20, center=True).median()
        ratio = (volume / median).to_numpy()
        beyond = np.flatnonzero(ratio > VOLUME_TIMES_MEDIAN)
        if len(beyond):
            i = beyond[0]
            detail = (f"volume {float(volume.iloc[i])!r} is {ratio[i]:.0f} times the median of the "
                      f"{VOLUME_MEDIAN_SESSIONS} sessions around it (bound {VOLUME_TIMES_MEDIAN:g}); "
                      f"{len(beyond)} row(s)")
            raise _fail(origin, symbol, frame.index[i], RULE_VOLUME_OUTLIER, detail)


def check_history(
    frame: pd.DataFrame, symbol: str, origin: str, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> None:
    """The series reaches back to the start asked for (within START_SLACK_SESSIONS weekdays).

    >>> f = pd.DataFrame({"close": [1.0]}, index=pd.to_datetime(["1999-01-04"]))
    >>> check_history(f, "SPY", "embedded", pd.Timestamp("1999-01-01"), None)  # New Year + weekend: fine
    >>> check_history(f, "SPY", "embedded", pd.Timestamp("1995-01-01"), None)
    Traceback (most recent call last):
    ...
    data.errors.DataError: embedded SPY on 1995-01-01 breaks rule 'history covers start': the series \
starts on 1999-01-04, 1045 weekdays after the start asked for
    """
    if len(frame) == 0:
        raise _fail(origin, symbol, None, RULE_ROWS, "the series is empty")
    first, last = frame.index[0], frame.index[-1]
    if start is not None and start < first:
        shortfall = int(np.busday_count(start.date(), first.date()))
        if shortfall > START_SLACK_SESSIONS:
            raise _fail(
                origin,
                symbol,
                start,
                RULE_HISTORY,
                f"the series starts on {_day(first)}, {shortfall} weekdays after the start asked for",
            )
    if (start is not None and start > last) or (end is not None and end < first):
        raise _fail(
            origin,
            symbol,
            None,
            RULE_ROWS,
            f"no rows {_span(start, end)}; the series covers {_day(first)} to {_day(last)}",
        )


def check_real_open(frame: pd.DataFrame, symbol: str, origin: str) -> None:
    """Every frame carries the boolean REAL_OPEN column (data.frames.price_frame sets it)."""
    if REAL_OPEN not in frame.columns or frame[REAL_OPEN].dtype != bool:
        detail = "the frame was not built by data.frames.price_frame"
        raise _fail(origin, symbol, None, RULE_REAL_OPEN, detail)


def stale_opens(frame: pd.DataFrame) -> pd.DataFrame:
    """Per calendar year: sessions with a printed open (close-only rows of a spliced history, where
    open = high = low = close, have none), stale opens among them (open == previous close), their
    share, and the sessions whose open is not real for any reason (stale, or close-only rows).

    >>> f = pd.DataFrame({"open": [10.0, 11.0, 12.0], "close": [11.0, 11.5, 12.5],
    ...                   "real_open": [True, False, True]},
    ...                  index=pd.to_datetime(["2018-12-28", "2018-12-31", "2019-01-02"]))
    >>> stale_opens(f)["stale"].tolist()
    [1, 0]
    """
    stale = pd.Series(stale_open_mask(frame["open"], frame["close"]), index=frame.index)
    if frame.attrs.get("close_only"):
        stale[:] = False  # a close-only series has no opens at all, stale or not
    years = frame.index.year
    printed = pd.Series(True, index=frame.index)
    if {"high", "low"} <= set(frame.columns):
        printed[:] = ~close_only_rows(frame["open"], frame["high"], frame["low"], frame["close"])
    table = pd.DataFrame({
        "sessions": printed.groupby(years).sum().astype(int),
        "stale": (stale & printed).groupby(years).sum().astype(int),
        "not_real": (~frame[REAL_OPEN]).groupby(years).sum().astype(int),
    })
    table["share"] = (table["stale"] / table["sessions"].where(table["sessions"] > 0)).fillna(0.0)
    table.index.name = "year"
    return table


def stale_summary(frame: pd.DataFrame) -> str:
    """One phrase for `data validate` / `data list`: how many opens are stale, the years where it is
    material (>= STALE_MATERIAL of the year's sessions), or that the series has no opens.

    >>> idx = pd.bdate_range("2018-01-01", periods=4)
    >>> f = pd.DataFrame({"open": [1.0, 1.0, 2.0, 3.0], "close": [1.0, 2.0, 3.0, 4.0]}, index=idx)
    >>> f["real_open"] = [True, False, False, False]
    >>> stale_summary(f)
    'stale opens (open = previous close) on 3 of 4 sessions with an open (75.0%); 2018 75%'
    """
    if frame.attrs.get("close_only"):
        return "close-only: no session has a real open"
    table = stale_opens(frame)
    total, count = int(table["sessions"].sum()), int(table["stale"].sum())
    if count == 0:
        return "no stale opens"
    text = (f"stale opens (open = previous close) on {count} of {total} sessions with an open "
            f"({count / total:.1%})")
    material = table[table["share"] >= STALE_MATERIAL]
    if len(material):
        text += "; " + ", ".join(f"{year} {share:.0%}" for year, share in material["share"].items())
    else:
        text += f"; no year at {STALE_MATERIAL:.0%} or more"
    return text


def validate_frame(
    frame: pd.DataFrame,
    symbol: str,
    origin: str,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    *,
    rate: bool = False,
    kind: str | None = None,
) -> pd.DataFrame:
    """Every rule, in the order a reader would check them; returns the rows in [start, end].

    `origin` names the source as the user knows it ("embedded", "yahoo cache /path/SPY.csv",
    "csv file /data/SPY.csv") and starts every error message. `kind` picks the move bound
    (MOVE_BOUNDS; default: series_kind(symbol), "rate" when `rate`).
    """
    check_dates(frame, symbol, origin)
    check_real_open(frame, symbol, origin)
    if start is not None and end is not None and start > end:
        raise _fail(origin, symbol, start, RULE_ROWS, f"the start is after the end {_day(end)}")
    check_history(frame, symbol, origin, start, end)
    window = restrict(frame, start, end)
    if len(window) == 0:
        raise _fail(origin, symbol, None, RULE_ROWS, f"no rows {_span(start, end)}")
    check_values(window, symbol, origin, rate=rate)
    check_moves(window, symbol, origin, kind or ("rate" if rate else series_kind(symbol)))
    return window


def series_kind(symbol: str) -> str:
    """Which move bound a symbol's series gets: "rate" for the yield indexes, "volatility" for the
    volatility indexes, "index" for an index (a caret symbol) and the playbook's ETFs, "stock" for
    anything else (a single name, or a file of the user's we know nothing about: the loosest bound).

    >>> [series_kind(s) for s in ("^TNX", "^VIX", "^GSPC", "XLF", "AMD", "ORCL")]
    ['rate', 'volatility', 'index', 'index', 'stock', 'stock']
    """
    symbol = canonical_symbol(symbol)
    if symbol in RATE_SYMBOLS:
        return "rate"
    if symbol in VOLATILITY_SYMBOLS:
        return "volatility"
    entry = UNIVERSE.get(symbol)
    if symbol.startswith("^") or (entry is not None and entry.kind != "stock"):
        return "index"
    return "stock"
