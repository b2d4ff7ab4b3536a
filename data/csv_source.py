"""The `csv` source: a directory of Yahoo-format files, one per symbol.

A file is named after its symbol (`SPY.csv`; an index may drop its caret: `^VIX.csv` or `VIX.csv`)
and has the header `Date,Open,High,Low,Close,Adj Close,Volume`, as Yahoo's download button and
`yfinance.download(...).to_csv` write it. Column names match case-insensitively. A file without
"Adj Close" (an auto-adjusted export, whose Close is already adjusted) gets adj_close = close, and the
frame's proxy text says so. Yahoo writes "null" for a missing value; it is read as missing and
reported by validation, never filled.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError
from data.frames import price_frame
from data.universe import canonical_symbol, describe

SOURCE = "csv"
REQUIRED = ("date", "open", "high", "low", "close", "volume")
_ISO_DAY = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:[ T].*)?\s*$")


class MissingFile(DataError):
    """No file for a symbol in a csv folder; keeps the names tried so that a run can name every
    missing file at once."""

    def __init__(self, symbol: str, folder: Path, tried: tuple[str, ...]):
        super().__init__(f"csv source has no file for {symbol} in {folder} (tried {', '.join(tried)})")
        self.symbol, self.folder, self.tried = symbol, folder, tried


def candidate_names(symbol: str) -> list[str]:
    """File names tried for a symbol, in order.

    >>> candidate_names("^VIX"), candidate_names("spy")
    (['^VIX.csv', 'VIX.csv'], ['SPY.csv', '^SPY.csv'])
    """
    text = canonical_symbol(symbol)
    bare = text.lstrip("^")
    names = [f"{text}.csv", f"{bare}.csv"] if text.startswith("^") else [f"{text}.csv", f"^{text}.csv"]
    return names


def find_file(symbol: str, data_dir) -> Path:
    """The CSV file for `symbol` in `data_dir`; a DataError names the directory and names tried."""
    if data_dir is None:
        raise DataError("the csv source needs a data directory (--data-dir DIR)")
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise DataError(f"csv data directory {folder} does not exist")
    names = candidate_names(symbol)
    for name in names:
        path = folder / name
        if path.is_file():
            return path
    raise MissingFile(canonical_symbol(symbol), folder, tuple(names))


def _read_rows(path: Path, origin: str) -> tuple[pd.DataFrame, list[int]]:
    """The cells as text, and each data row's line number in the file (for messages).

    Read with the csv module rather than pandas: pandas turns surplus leading fields into an index
    or drops trailing ones with a warning, and a row of the wrong width must be an error.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows, lines = [], []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if header is not None and len(row) != len(header):
                    width = f"{len(row)} fields where the header has {len(header)}"
                    raise DataError(f"{origin} line {reader.line_num}: {width}")
                rows.append(row)
                lines.append(reader.line_num)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{origin} cannot be read as CSV: {exc}") from exc
    if header is None:
        raise DataError(f"{origin} is empty")
    return pd.DataFrame(rows, columns=[c.strip() for c in header], dtype=str), lines


def read_yahoo_csv(path: Path, symbol: str) -> pd.DataFrame:
    """Parse one Yahoo-format file into a canonical frame (not yet validated)."""
    origin = f"csv file {path}"
    raw, lines = _read_rows(path, origin)
    columns = {str(c).strip().lower(): c for c in raw.columns}
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise DataError(
            f"{origin} lacks the column(s) {', '.join(missing)}; "
            "expected the header Date,Open,High,Low,Close,Adj Close,Volume"
        )
    has_adj = "adj close" in columns

    def text(name: str) -> pd.Series:
        return raw[columns[name]].astype(str).str.strip()

    dates = text("date")
    day = dates.str.extract(_ISO_DAY, expand=False)
    parsed = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce")
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise DataError(f"{origin} line {lines[i]}: date {dates.iloc[i]!r} is not a YYYY-MM-DD date")

    values = {}
    for name, target in (
        ("open", "open"),
        ("high", "high"),
        ("low", "low"),
        ("close", "close"),
        ("adj close", "adj_close"),
        ("volume", "volume"),
    ):
        if name == "adj close" and not has_adj:
            continue
        cells = text(name)
        blank = cells.str.lower().isin(["", "null", "nan", "na", "n/a"])
        numbers = pd.to_numeric(cells.where(~blank), errors="coerce")
        garbage = numbers.isna() & ~blank
        if garbage.any():
            i = int(np.flatnonzero(garbage.to_numpy())[0])
            raise DataError(
                f"{origin} line {lines[i]} ({day.iloc[i]}): {columns[name]} {cells.iloc[i]!r} is not a number"
            )
        values[target] = numbers.to_numpy(dtype="float64")
    if not has_adj:
        values["adj_close"] = values["close"].copy()

    data = pd.DataFrame(values, index=pd.DatetimeIndex(parsed))
    proxy = describe(symbol, SOURCE, path.parent) + f" ({path.name}"
    proxy += ")" if has_adj else "; no Adj Close column: adj_close = close)"
    volume = values["volume"]
    return price_frame(
        data,
        symbol=canonical_symbol(symbol),
        source=SOURCE,
        proxy=proxy,
        close_only=bool(
            np.array_equal(values["open"], values["close"], equal_nan=True)
            and np.array_equal(values["high"], values["close"], equal_nan=True)
            and np.array_equal(values["low"], values["close"], equal_nan=True)
        ),
        has_volume=bool(np.nansum(volume) > 0),
    )


def load_csv(symbol: str, data_dir) -> tuple[pd.DataFrame, str]:
    """The frame for `symbol` from `data_dir`, and the origin text for validation messages."""
    path = find_file(symbol, data_dir)
    return read_yahoo_csv(path, symbol), f"csv file {path}"
