"""`load`: one validated frame per symbol from any source (re-exported as data.load)."""

from __future__ import annotations

import pandas as pd

from data.csv_source import load_csv
from data.embedded import load_embedded
from data.errors import DataError
from data.frames import SOURCES, to_date
from data.universe import canonical_symbol
from data.validate import series_kind, validate_frame
from data.yahoo import load_yahoo


def load(
    symbols,
    start=None,
    end=None,
    source: str = "embedded",
    data_dir=None,
    cache_dir=None,
    refresh: bool = False,
    download=None,
    kinds=None,
) -> dict[str, pd.DataFrame]:
    """One validated frame per symbol asked, keyed by the symbol as asked, cut to [start, end].

    symbols    a symbol or a list ("SPY", "^VIX"; case and a missing index caret are forgiven)
    start, end inclusive dates (anything pd.Timestamp reads) or None for the whole series
    source     "embedded", "yahoo" or "csv"
    data_dir   the csv source's directory
    cache_dir  the yahoo cache (default $PLAYBOOK_CACHE_DIR, else the user cache directory)
    refresh    yahoo: download again even when the cache covers the dates
    download   yahoo: the downloader (default yfinance.download); tests pass a fake
    kinds      {symbol: kind of series} for validation's move bounds (data.validate.MOVE_BOUNDS,
               "rate" for a yield index); a symbol not in it gets data.validate.series_kind's

    >>> frames = load(["SPY", "^VIX"], "2018-12-24", "2018-12-31")
    >>> frames["SPY"].loc["2018-12-26", "close"], frames["^VIX"].attrs["close_only"]
    (np.float64(2467.699951), True)
    """
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}; choose one of {', '.join(SOURCES)}")
    if isinstance(symbols, str):
        symbols = [symbols]
    start, end = to_date(start, "start"), to_date(end, "end")
    frames = {}
    for asked in symbols:
        symbol = canonical_symbol(asked)
        if source == "embedded":
            frame, origin = load_embedded(symbol), "embedded"
        elif source == "yahoo":
            frame, origin = load_yahoo(symbol, start, end, cache_dir, refresh, download)
        else:
            frame, origin = load_csv(symbol, data_dir)
        kind = (kinds or {}).get(asked) or series_kind(symbol)
        frames[asked] = validate_frame(frame, symbol, origin, start, end, rate=kind == "rate", kind=kind)
    return frames
