"""Rates and inflation on a session index, each value only from the day it was known.

`load_macro(name, sessions, source)` returns, for every session t, the latest figure released on or
before t (NaN before the first release). A feature computed at t's close may use it; a trade on it
happens at t+1's open at the earliest.

Release rules (month m's figure becomes usable at the first session on or after the date given):
- long_yield, embedded: Moody's Aaa corporate yield, monthly average of month m, percent; usable
  from the 7th calendar day of m+1. The average is computable once m's last session has closed and
  the Fed's H.15 (weekly, Mondays) prints it within 7 days of month end; the 7th is the conservative
  end of that window. A corporate yield is a stand-in: no daily Treasury yield ships offline.
- tbill_rate, embedded: Fama-French RF of month m (the one-month bill return, percent per month)
  x 12 / 100, an annualised fraction; known at the start of m (the bill is bought then), so usable
  from the 1st of m.
- core_cpi (every source): US core CPI (CPILFESL) level of month m; usable from the 15th of m+1 (BLS
  publishes it about mid-month; releases delayed past the 15th, such as October 2013's shutdown
  delay, are not modelled). Only arch ships it, so it ends with arch's file (2018-11) on any source.
A monthly figure stays current until its successor is due; past the due date of the first figure a
file lacks, the series has ended and is NaN (never the last figure carried on): Fama-French RF ends
with 2018-11 (current through 2018-11-30), Moody's Aaa with 2018-12 (through 2019-02-06), core CPI
with 2018-11 (through 2019-01-14). `attrs["current_through"]` holds that last day.
- long_yield, yahoo/csv: the ^TNX close of session t, percent; tbill_rate, yahoo/csv: the ^IRX close
  / 100. Both known at t's close. Yahoo has quoted these indexes as yield x 10 in some periods; a
  value above 20 is read as x 10 (no US 10-year or 13-week yield has exceeded 16%).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.embedded import french_rf, monthly_series
from data.errors import DataError
from data.frames import SOURCES, YIELD_X10_THRESHOLD, session_index, yield_percent
from data.loading import load

MACRO_NAMES = ("long_yield", "tbill_rate", "core_cpi")
AAA_RELEASE_DAY = 7
CPI_RELEASE_DAY = 15


def release_dates(months: pd.PeriodIndex, day: int, months_later: int) -> pd.DatetimeIndex:
    """The calendar day from which each month's figure counts as released.

    >>> release_dates(pd.PeriodIndex(["2018-11", "2018-12"], freq="M"), 15, 1)
    DatetimeIndex(['2018-12-15', '2019-01-15'], dtype='datetime64[ns]', freq=None)
    """
    first_of_release_month = (months + months_later).to_timestamp(how="start")
    return pd.DatetimeIndex(first_of_release_month + pd.Timedelta(days=day - 1)).as_unit("ns")


def as_of(values: np.ndarray, known_from: pd.DatetimeIndex, sessions: pd.DatetimeIndex) -> np.ndarray:
    """For each session, the last value whose known_from date is on or before it; NaN before any.

    >>> known = pd.to_datetime(["2018-01-15", "2018-02-15"])
    >>> days = pd.to_datetime(["2018-01-12", "2018-01-16", "2018-02-15"])
    >>> as_of(np.array([1.0, 2.0]), known, days).tolist()
    [nan, 1.0, 2.0]
    """
    order = np.argsort(known_from.to_numpy(), kind="stable")
    known = known_from.to_numpy()[order]
    ordered = np.asarray(values, dtype="float64")[order]
    position = np.searchsorted(known, sessions.to_numpy(), side="right") - 1
    return np.where(position >= 0, ordered[np.clip(position, 0, None)], np.nan)


def monthly_as_of(monthly: pd.Series, day: int, months_later: int, sessions: pd.DatetimeIndex):
    """as_of for a monthly series, NaN from the day the figure after its last would be released.

    Returns (values on sessions, the last day the series is current).

    >>> rf = pd.Series([0.1, 0.2], index=pd.PeriodIndex(["2018-10", "2018-11"], freq="M"))
    >>> values, through = monthly_as_of(rf, 1, 0, pd.to_datetime(["2018-11-30", "2018-12-03"]))
    >>> values.tolist(), f"{through:%Y-%m-%d}"
    ([0.2, nan], '2018-11-30')
    """
    values = as_of(monthly.to_numpy(), release_dates(monthly.index, day, months_later), sessions)
    successor_due = release_dates(pd.PeriodIndex([monthly.index[-1] + 1]), day, months_later)[0]
    values = np.where(sessions.to_numpy() < successor_due.to_datetime64(), values, np.nan)
    return values, successor_due - pd.Timedelta(days=1)


def _monthly_lag(day: int) -> str:
    return f"month m usable from the first session on or after day {day} of month m+1"


def _sessions(sessions) -> pd.DatetimeIndex:
    index = session_index(sessions)
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataError("load_macro needs sessions sorted ascending without repeats")
    return index


def _daily_close(symbol: str, source: str, data_dir, cache_dir) -> pd.Series:
    frame = load([symbol], source=source, data_dir=data_dir, cache_dir=cache_dir, kinds={symbol: "rate"})
    frame = frame[symbol]
    return frame["close"]


def load_macro(name, sessions, source="embedded", data_dir=None, cache_dir=None, symbol=None) -> pd.Series:
    """Daily series `name` on `sessions`: the latest figure released by each session.

    `symbol` replaces the yield index read for long_yield or tbill_rate (^TNX, ^IRX: the `rates`
    role mapped with --map rates=SYMBOL); it is read from `source` and validated as a yield.

    >>> s = pd.to_datetime(["2018-11-30", "2018-12-03", "2018-12-14", "2018-12-17"])
    >>> load_macro("core_cpi", s).tolist()   # October's 258.939 until November's is out on the 15th
    [258.939, 258.939, 258.939, 259.481]
    """
    if name not in MACRO_NAMES:
        raise DataError(f"unknown macro series {name!r}; choose one of {', '.join(MACRO_NAMES)}")
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}; choose one of {', '.join(SOURCES)}")
    sessions = _sessions(sessions)
    if name == "core_cpi":
        cpi = monthly_series("core_cpi", "CPILFESL")
        values, through = monthly_as_of(cpi, CPI_RELEASE_DAY, 1, sessions)
        description = (
            f"US core CPI index level (CPILFESL, arch core_cpi, {cpi.index[0]} to {cpi.index[-1]}; "
            "NaN after its last release on any source)"
        )
        frequency, lag = "monthly", _monthly_lag(CPI_RELEASE_DAY)
    elif source == "embedded" and symbol is not None:
        raise DataError(f"the embedded source has no daily yield index {symbol}; a mapped rates role "
                        "needs --source yahoo or csv")
    elif source == "embedded" and name == "long_yield":
        aaa = monthly_series("default", "AAA")
        values, through = monthly_as_of(aaa, AAA_RELEASE_DAY, 1, sessions)
        description = (
            "Moody's Aaa corporate bond yield, monthly average, percent (arch default): the offline "
            "stand-in for the 10-year Treasury yield ^TNX, which ships nowhere offline"
        )
        frequency, lag = "monthly", _monthly_lag(AAA_RELEASE_DAY)
    elif source == "embedded":  # tbill_rate
        rf = french_rf()
        values, through = monthly_as_of(rf * 12.0 / 100.0, 1, 0, sessions)
        description = (
            "one-month T-bill return (Fama-French RF, arch frenchdata) x 12, annualised fraction: "
            "the offline stand-in for ^IRX"
        )
        frequency, lag = "monthly", "month m known from its first session (bill bought at the start of m)"
    else:
        symbol = symbol or ("^TNX" if name == "long_yield" else "^IRX")
        close = _daily_close(symbol, source, data_dir, cache_dir)
        percent = yield_percent(close.to_numpy())
        daily = percent if name == "long_yield" else percent / 100.0
        values = as_of(daily, pd.DatetimeIndex(close.index), sessions)
        through = pd.Timestamp(close.index[-1])
        unit = "percent" if name == "long_yield" else "annualised fraction (discount basis)"
        description = (
            f"{symbol} daily close from {source}, {unit}; quotes above {YIELD_X10_THRESHOLD:g} read as x 10"
        )
        frequency, lag = "daily", "session t's close, usable at t"
    series = pd.Series(values, index=sessions, name=name)
    series.attrs = {"name": name, "description": description, "frequency": frequency, "release_lag": lag,
                    "current_through": f"{through:%Y-%m-%d}"}
    return series
