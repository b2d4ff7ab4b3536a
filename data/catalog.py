"""What `cli.py data list|fetch|validate` report, as plain rows and lines the CLI prints.

Kept out of cli.py so the CLI stays parse-call-print, and out of data.universe so the universe
table does not import the sources.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.cache import cache_path, read_cache, resolve_cache_dir
from data.csv_source import find_file, read_yahoo_csv
from data.embedded import load_embedded, notes, repairs
from data.errors import DataError
from data.frames import SOURCES, to_date
from data.loading import load
from data.universe import PLAYBOOK_SYMBOLS, UNIVERSE, canonical_symbol, describe, role
from data.validate import STALE_MATERIAL, stale_opens, stale_summary
from data.yahoo import fetch


@dataclass(frozen=True)
class ListRow:
    """One line of `data list`: first/last are None where no series exists (yet). `segments` is
    frame.attrs["segments"] (source, kind, first, last per stretch; empty for yahoo and csv)."""

    symbol: str
    role: str
    proxy: str
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    close_only: bool | None
    opens: str | None = None  # "real", "none" or the stale share and its years (see opens_cell)
    segments: tuple = ()


def opens_cell(frame: pd.DataFrame) -> str:
    """`data list`'s opens column: "none" for a close-only series, "real" without stale opens in any
    year at STALE_MATERIAL or more, else the stale share and the span of those years.

    >>> f = pd.DataFrame({"open": [1.0, 1.0, 2.0], "close": [1.0, 2.0, 3.0], "real_open": True},
    ...                  index=pd.to_datetime(["2018-01-02", "2018-01-03", "2018-01-04"]))
    >>> opens_cell(f)
    'stale 67% (2018-2018)'
    """
    if frame.attrs.get("close_only"):
        return "none"
    table = stale_opens(frame)
    material = table.index[table["share"] >= STALE_MATERIAL]
    if not len(material):
        return "real"
    share = table["stale"].sum() / table["sessions"].sum()
    return f"stale {share:.0%} ({material[0]}-{material[-1]})"


@dataclass(frozen=True)
class CheckLine:
    """One line of `data validate`: status is "OK", "FAIL" or "SKIP" (SKIP never fails the run)."""

    symbol: str
    status: str
    message: str


def _row(symbol: str, proxy: str, frame: pd.DataFrame | None) -> ListRow:
    if frame is None or len(frame) == 0:
        return ListRow(symbol, role(symbol), proxy, None, None, None)
    return ListRow(
        symbol,
        role(symbol),
        proxy,
        frame.index[0],
        frame.index[-1],
        bool(frame.attrs.get("close_only")),
        opens_cell(frame),
        tuple(frame.attrs.get("segments", ())),
    )


def list_rows(source="embedded", data_dir=None, cache_dir=None, everything=False) -> list[ListRow]:
    """The playbook universe on `source` (plus every extra embedded series when `everything`)."""
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}; choose one of {', '.join(SOURCES)}")
    symbols = list(PLAYBOOK_SYMBOLS)
    if everything and source == "embedded":
        symbols += [s for s in UNIVERSE if s not in PLAYBOOK_SYMBOLS]
    rows = []
    for symbol in symbols:
        if source == "embedded":
            try:
                frame = load_embedded(symbol)
            except DataError:
                frame = None
            rows.append(_row(symbol, describe(symbol, source), frame))
        elif source == "yahoo":
            path = cache_path(resolve_cache_dir(cache_dir), symbol)
            if path.is_file():
                frame, _ = read_cache(path, describe(symbol, source))
                rows.append(_row(symbol, f"{describe(symbol, source)}, cached in {path}", frame))
            else:
                hint = f"{describe(symbol, source)}, not cached (data fetch {symbol})"
                rows.append(_row(symbol, hint, None))
        else:
            try:
                path = find_file(symbol, data_dir)
            except DataError as exc:
                rows.append(_row(symbol, str(exc), None))
                continue
            rows.append(_row(symbol, f"{path}", read_yahoo_csv(path, symbol)))
    return rows


def format_rows(rows: list[ListRow]) -> list[str]:
    """`data list` as aligned text lines, a header first. A series spliced from several sources
    ("partly" close-only) is followed by one indented line per segment: its sessions, kind, source."""

    def day(value) -> str:
        return value.strftime("%Y-%m-%d") if value is not None else "-"

    table = [("symbol", "in the playbook", "first", "last", "close_only", "opens", "proxy")]
    for r in rows:
        spliced = len(r.segments) > 1
        flag = "-" if r.close_only is None else ("yes" if r.close_only else ("partly" if spliced else "no"))
        table.append((r.symbol, r.role, day(r.first), day(r.last), flag, r.opens or "-", r.proxy))
    widths = [max(len(line[i]) for line in table) for i in range(6)]
    lines = []
    for r, line in zip([None, *rows], table):
        lines.append("  ".join([*(cell.ljust(w) for cell, w in zip(line[:6], widths)), line[6]]))
        if r is not None and len(r.segments) > 1:
            indent = " " * (widths[0] + 2)
            lines.extend(f"{indent}segment {s['first']} .. {s['last']}  {s['kind']:<10}  {s['source']}"
                         for s in r.segments)
    return lines


def default_symbols(source: str, data_dir=None) -> list[str]:
    """What `data validate` checks when no --symbols: the universe, or every file of a csv folder."""
    if source == "csv":
        if data_dir is None:
            raise DataError("the csv source needs a data directory (--data-dir DIR)")
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"csv data directory {folder} does not exist")
        return sorted(p.stem for p in folder.glob("*.csv"))
    return list(PLAYBOOK_SYMBOLS)


def check_symbols(
    symbols=None, source="embedded", start=None, end=None, data_dir=None, cache_dir=None, refresh=False
) -> list[CheckLine]:
    """Load and validate each symbol on its own, so one failure does not hide the others.

    Without explicit symbols on the embedded source, a universe symbol with no offline series is a
    SKIP line (the universe says so plainly); named explicitly, it is a FAIL.
    """
    explicit = bool(symbols)
    symbols = list(symbols) if explicit else default_symbols(source, data_dir)
    start, end = to_date(start, "start"), to_date(end, "end")
    lines = []
    for symbol in symbols:
        entry = UNIVERSE.get(canonical_symbol(symbol))
        if source == "embedded" and not explicit and entry is not None and entry.kind == "none":
            lines.append(CheckLine(symbol, "SKIP", entry.embedded))
            continue
        try:
            frame = load([symbol], start, end, source, data_dir, cache_dir, refresh)[symbol]
        except DataError as exc:
            lines.append(CheckLine(symbol, "FAIL", str(exc)))
            continue
        lines.append(
            CheckLine(
                symbol,
                "OK",
                f"{frame.index[0]:%Y-%m-%d} to {frame.index[-1]:%Y-%m-%d}, {len(frame)} sessions: "
                f"{frame.attrs['proxy']}; {stale_summary(frame)}",
            )
        )
    return lines


def embedded_remarks() -> list[str]:
    """The embedded source's repairs and notes, one line each, for `data validate`."""
    out = [f"repair {r.symbol}: {r.rows} row(s), rule '{r.rule}': {r.detail}" for r in repairs()]
    return out + [f"note {text}" for text in notes()]


def fetch_symbols(symbols, start=None, end=None, cache_dir=None, refresh=False, download=None):
    """Download each symbol into the cache; yields (symbol, FetchResult or None, error text or None).

    Each fetched file is validated over the dates fetched; a failure is reported, and the file
    (Yahoo's data as given) stays in the cache for inspection.
    """
    start, end = to_date(start, "start"), to_date(end, "end")
    for symbol in symbols:
        try:
            result = fetch(symbol, start, end, cache_dir, refresh, download)
        except DataError as exc:
            yield symbol, None, str(exc)
            continue
        try:
            load([symbol], start, end, "yahoo", cache_dir=cache_dir, download=download)
        except DataError as exc:
            yield symbol, result, str(exc)
            continue
        yield symbol, result, None


@contextlib.contextmanager
def echo_user_warnings(echo):
    """Run a block and hand each UserWarning it raised to `echo` as one line; others are re-shown."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            yield
    finally:
        # Also on error: a cache fallback warning explains the error that follows it.
        for item in caught:
            if issubclass(item.category, UserWarning):
                echo(str(item.message).splitlines()[0])
            else:
                warnings.showwarning(item.message, item.category, item.filename, item.lineno)
