"""The on-disk cache of downloaded history: one CSV file per symbol, written atomically.

Where: `--cache-dir` if given, else the environment variable PLAYBOOK_CACHE_DIR, else the user's
cache directory (platformdirs: ~/.cache/playbook-backtest on Linux). Never inside the installed
package, which may be read-only and is replaced on upgrade.

Format: the canonical columns (date, open, high, low, close, adj_close, volume) after one comment
line that records what was asked for and when, so a later run knows whether the file covers it:
    # playbook-backtest cache v1 symbol=SPY start=1993-01-29 end=- downloaded=2026-11-25T08:00:00
("-" = unbounded: from the first available date, or up to the day of the download). CSV keeps the
cache readable and free of a parquet dependency.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.errors import DataError
from data.frames import COLUMNS, price_frame

ENV_VAR = "PLAYBOOK_CACHE_DIR"
APP_NAME = "playbook-backtest"
HEADER_PREFIX = "# playbook-backtest cache v1"
_REPO = Path(__file__).resolve().parent.parent
_PACKAGE_DIRS = tuple(_REPO / name for name in ("data", "strategies", "backtests"))


@dataclass(frozen=True)
class CacheMeta:
    """What a cache file holds: the range asked for at download (None = unbounded) and when."""

    symbol: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    downloaded: pd.Timestamp

    def covers(self, start: pd.Timestamp | None, end: pd.Timestamp | None) -> bool:
        """True when a request for [start, end] needs no new download.

        An open start needs a file downloaded from the first available date; an open end needs a
        file downloaded up to its download day (a later day needs --refresh, never a silent refetch).

        >>> m = CacheMeta("SPY", None, None, pd.Timestamp("2024-06-01"))
        >>> m.covers(pd.Timestamp("2000-01-01"), pd.Timestamp("2024-05-31")), m.covers(None, None)
        (True, True)
        >>> m.covers(None, pd.Timestamp("2024-07-01"))
        False
        """
        if self.start is not None and (start is None or start < self.start):
            return False
        last_known = self.end if self.end is not None else self.downloaded.normalize()
        if end is None:
            return self.end is None
        return end <= last_known


def resolve_cache_dir(explicit=None) -> Path:
    """The cache directory: explicit argument, else $PLAYBOOK_CACHE_DIR, else the user cache dir."""
    if explicit is not None and str(explicit) != "":
        folder = Path(explicit).expanduser()
    elif os.environ.get(ENV_VAR):
        folder = Path(os.environ[ENV_VAR]).expanduser()
    else:
        import platformdirs

        folder = Path(platformdirs.user_cache_dir(APP_NAME))
    resolved = folder.resolve()
    for package in _PACKAGE_DIRS:
        if resolved == package or package in resolved.parents:
            raise DataError(f"cache directory {folder} is inside the package folder {package}; use another")
    return folder


def cache_path(folder: Path, symbol: str) -> Path:
    """One file per symbol; characters a file system may reject become "_".

    >>> cache_path(Path("/c"), "^VIX").name, cache_path(Path("/c"), "BRK/B").name
    ('^VIX.csv', 'BRK_B.csv')
    """
    safe = re.sub(r"[^A-Za-z0-9^._=-]", "_", symbol)
    return Path(folder) / f"{safe}.csv"


def _stamp(value: pd.Timestamp | None, fmt: str = "%Y-%m-%d") -> str:
    return "-" if value is None else value.strftime(fmt)


def write_cache(path: Path, frame: pd.DataFrame, meta: CacheMeta) -> None:
    """Write `frame` atomically: a temp file in the same folder, then os.replace.

    A failure at any point leaves the previous file (or no file) and no temp file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"{HEADER_PREFIX} symbol={meta.symbol} start={_stamp(meta.start)} end={_stamp(meta.end)} "
        f"downloaded={_stamp(meta.downloaded, '%Y-%m-%dT%H:%M:%S')}\n"
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            handle.write(header)
            frame[COLUMNS].to_csv(handle, index_label="date", date_format="%Y-%m-%d", float_format="%.17g")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _parse_header(line: str, path: Path) -> CacheMeta:
    fields = dict(re.findall(r"(\w+)=(\S+)", line)) if line.startswith(HEADER_PREFIX) else {}
    if not {"symbol", "start", "end", "downloaded"} <= fields.keys():
        raise DataError(f"cache file {path} has no playbook-backtest header; delete it or use --refresh")
    try:

        def day(text: str) -> pd.Timestamp | None:
            return None if text == "-" else pd.Timestamp(text)

        downloaded = pd.Timestamp(fields["downloaded"])
        return CacheMeta(fields["symbol"], day(fields["start"]), day(fields["end"]), downloaded)
    except ValueError as exc:
        raise DataError(f"cache file {path} has a malformed header; delete it or use --refresh") from exc


def read_cache(path: Path, proxy: str, source: str = "yahoo") -> tuple[pd.DataFrame, CacheMeta]:
    """A cached frame (canonical, not yet validated) and its header."""
    path = Path(path)
    with open(path, newline="") as handle:
        meta = _parse_header(handle.readline(), path)
        try:
            table = pd.read_csv(handle, index_col="date")
            table.index = pd.to_datetime(table.index, format="%Y-%m-%d")
        except (ValueError, pd.errors.ParserError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(
                f"cache file {path} is corrupt ({reason}); use --refresh to download again"
            ) from exc
    frame = price_frame(
        table,
        symbol=meta.symbol,
        source=source,
        proxy=proxy,
        close_only=bool(
            len(table) > 0
            and (table["open"] == table["close"]).all()
            and (table["high"] == table["close"]).all()
            and (table["low"] == table["close"]).all()
        ),
        has_volume=bool((table["volume"] > 0).any()),
    )
    return frame, meta
