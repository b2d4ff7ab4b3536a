"""The `yahoo` source: yfinance downloads, kept in the on-disk cache (data.cache).

Downloads ask for unadjusted OHLC plus "Adj Close" (auto_adjust=False), so a frame keeps both the
traded prices and the dividend- and split-adjusted close; a consumer that wants total-return OHLC
scales by adj_close / close. A frame shaped like auto_adjust=True output (no "Adj Close"; Yahoo has
already adjusted OHLC) is accepted too, with adj_close = close.

Network policy: a cache file that covers the dates asked for is used without a download. Otherwise
the symbol is downloaded (`refresh=True` forces it). When the download fails (an exception, or the
empty frame yfinance returns after logging a failed download) the cache is used with a one-line
UserWarning; with no cache it is a DataError. Tests inject `download=`; the default is
yfinance.download, imported only when first needed. While the downloader runs, the libraries' own
output (yfinance's failed-download log lines, urllib3 / curl_cffi retries, their warnings, anything
printed) is silenced (`_quiet`): an offline run says one line per symbol, ours, not a page of noise.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.cache import CacheMeta, cache_path, read_cache, resolve_cache_dir, write_cache
from data.errors import DataError
from data.frames import price_frame
from data.universe import canonical_symbol, describe

SOURCE = "yahoo"
_FIELDS = {
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj close": "adj_close",
    "volume": "volume",
}


class CacheFallbackWarning(UserWarning):
    """A failed download answered from the cache: one line per symbol (the CLI prints it as such)."""


class DownloadFailed(Exception):
    """The download produced no usable rows; the message says why, in a few words."""


@dataclass(frozen=True)
class FetchResult:
    """What `fetch` did for one symbol."""

    symbol: str
    path: Path
    first: pd.Timestamp
    last: pd.Timestamp
    rows: int
    downloaded: bool  # False when the cache already covered the dates asked for


@contextlib.contextmanager
def _quiet():
    """Silence log records, warnings and printed output while the downloader runs; restore after.

    logging.disable rather than a logger's level: yfinance logs through child loggers and may attach
    its own handlers, and urllib3 / curl_cffi / peewee each have their own names. The run is single-
    threaded here (one symbol at a time), so the global switch touches nothing else.
    """
    before = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(before)


def _yfinance_download(*args, **kwargs):
    import yfinance

    return yfinance.download(*args, **kwargs)


def _single_ticker(raw: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """The columns of one ticker from yfinance's (Price, Ticker) or (Ticker, Price) columns."""
    if not isinstance(raw.columns, pd.MultiIndex):
        return raw
    for level in range(raw.columns.nlevels):
        names = {str(v).strip().lower() for v in raw.columns.get_level_values(level)}
        if "close" in names:
            price_level = level
            break
    else:
        raise DownloadFailed("the download has no Close column")
    ticker_level = 1 - price_level if raw.columns.nlevels == 2 else None
    if ticker_level is None:
        raise DownloadFailed(f"the download has {raw.columns.nlevels} column levels, expected 2")
    tickers = list(dict.fromkeys(raw.columns.get_level_values(ticker_level)))
    match = [t for t in tickers if str(t).upper() == symbol.upper()]
    if match:
        chosen = match[0]
    elif len(tickers) == 1:
        chosen = tickers[0]
    else:
        raise DownloadFailed(f"the download holds {', '.join(map(str, tickers))}, not {symbol}")
    return raw.xs(chosen, axis=1, level=ticker_level)


def from_yfinance(raw, symbol: str) -> pd.DataFrame:
    """Canonical frame from a yfinance.download result for one symbol (not yet validated).

    Handles yfinance 1.x multi-level columns (Price, Ticker), single-level columns of older versions,
    a tz-aware index (kept at its local date), and auto_adjust True (no "Adj Close": adj_close =
    close). Rows where every price is missing (yfinance's reindex to a shared index across tickers)
    are dropped; a row with some prices missing is kept for validation to report.
    """
    symbol = canonical_symbol(symbol)
    if raw is None or not isinstance(raw, pd.DataFrame):
        raise DownloadFailed(f"the download returned {type(raw).__name__}, not a table")
    table = _single_ticker(raw, symbol)
    columns = {str(c).strip().lower(): c for c in table.columns}
    missing = [name for name in ("open", "high", "low", "close") if name not in columns]
    if missing:
        raise DownloadFailed(f"the download lacks {', '.join(missing)}")
    data = pd.DataFrame(
        {
            target: pd.to_numeric(table[columns[name]]).to_numpy(dtype="float64")
            for name, target in _FIELDS.items()
            if name in columns
        },
        index=table.index,
    )
    adjusted_by_yahoo = "adj_close" not in data
    if adjusted_by_yahoo:
        data["adj_close"] = data["close"]
    if "volume" not in data:
        data["volume"] = 0.0
    data = data.loc[~data[["open", "high", "low", "close", "adj_close"]].isna().all(axis=1)]
    if len(data) == 0:
        raise DownloadFailed("no rows returned (network down, or an unknown symbol)")
    proxy = describe(symbol, SOURCE)
    if adjusted_by_yahoo:
        proxy = f"Yahoo Finance {symbol} daily (yfinance auto-adjusted OHLC; adj_close = close)"
    o, h, lo, c = (data[k].to_numpy() for k in ("open", "high", "low", "close"))
    return price_frame(
        data,
        symbol=symbol,
        source=SOURCE,
        proxy=proxy,
        close_only=bool(np.array_equal(o, c) and np.array_equal(h, c) and np.array_equal(lo, c)),
        has_volume=bool(np.nansum(data["volume"].to_numpy()) > 0),
    )


def _download(symbol: str, start, end, download) -> pd.DataFrame:
    """One symbol from Yahoo as a canonical frame; DownloadFailed when nothing usable came back."""
    download = download or _yfinance_download
    kwargs = {"auto_adjust": False, "actions": False, "progress": False, "threads": False}
    if start is None:
        kwargs["period"] = "max"
    else:
        kwargs["start"] = start.strftime("%Y-%m-%d")
    if end is not None:
        # yfinance's end is exclusive; ours is inclusive.
        kwargs["end"] = (end + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    try:
        with _quiet():
            raw = download(symbol, **kwargs)
    except Exception as exc:  # any failure inside the downloader is a failed download, said in one line
        first_line = (str(exc).strip().splitlines() or [""])[0]
        reason = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
        raise DownloadFailed(reason) from exc
    return from_yfinance(raw, symbol)


def _union(a: pd.Timestamp | None, b: pd.Timestamp | None, pick) -> pd.Timestamp | None:
    return None if a is None or b is None else pick(a, b)


def fetch(symbol, start=None, end=None, cache_dir=None, refresh=False, download=None) -> FetchResult:
    """Download `symbol` into the cache (skipped when the cache covers the dates, unless refresh).

    A failed download is a DataError here even with a cache: the user asked for fresh data.
    """
    symbol = canonical_symbol(symbol)
    path = cache_path(resolve_cache_dir(cache_dir), symbol)
    if not refresh and path.is_file():
        frame, meta = read_cache(path, describe(symbol, SOURCE))
        if meta.covers(start, end) and len(frame):
            return FetchResult(symbol, path, frame.index[0], frame.index[-1], len(frame), False)
    try:
        frame = _download(symbol, start, end, download)
    except DownloadFailed as failure:
        raise DataError(f"yahoo download of {symbol} failed ({failure}); nothing written to {path}") from None
    write_cache(path, frame, CacheMeta(symbol, start, end, pd.Timestamp.now().floor("s")))
    return FetchResult(symbol, path, frame.index[0], frame.index[-1], len(frame), True)


def load_yahoo(symbol, start=None, end=None, cache_dir=None, refresh=False, download=None):
    """The frame for `symbol` (cache, else download), and the origin text for validation messages."""
    symbol = canonical_symbol(symbol)
    path = cache_path(resolve_cache_dir(cache_dir), symbol)
    proxy = describe(symbol, SOURCE)
    meta = None
    if path.is_file() and not refresh:
        frame, meta = read_cache(path, proxy)
        if meta.covers(start, end):
            return frame, f"yahoo cache {path}"
    ask_start, ask_end = start, end
    if meta is not None:  # widen to what the cache held, so the rewrite loses nothing
        ask_start = _union(start, meta.start, min)
        ask_end = _union(end, meta.end, max)
    try:
        frame = _download(symbol, ask_start, ask_end, download)
    except DownloadFailed as failure:
        if not path.is_file():
            raise DataError(
                f"yahoo download of {symbol} failed ({failure}) and there is no cache file {path}; "
                "check the network, or use --source embedded"
            ) from None
        frame, meta = read_cache(path, proxy)
        span = f"{frame.index[0]:%Y-%m-%d} to {frame.index[-1]:%Y-%m-%d}" if len(frame) else "no rows"
        warnings.warn(
            f"yahoo download of {symbol} failed ({failure}); using the cache {path} "
            f"downloaded {meta.downloaded:%Y-%m-%d} ({span})",
            CacheFallbackWarning,
            stacklevel=2,
        )
        return frame, f"yahoo cache {path}"
    write_cache(path, frame, CacheMeta(symbol, ask_start, ask_end, pd.Timestamp.now().floor("s")))
    return frame, f"yahoo download {symbol} (cached at {path})"
