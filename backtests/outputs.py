"""A run's files on disk, and back: write_run saves a RunResult as a directory, load_run reads one.

The directory holds returns.csv (date, returns, benchmark, equity, exposure (the gross stock weight),
risk_free (the T-bill return of each session)), trades.csv (one row per leg round trip, open ones marked
at the last close, each with its position package), packages.csv (one row per package), orders.csv
(stocks and options, with strike, expiry and greeks at entry), positions.csv, equity.png,
tearsheet.html and run.json: every setting, the data source and its hash (from RunResult.settings), the
summary metrics and a sha256 of every other file, so a run can be repeated and a saved one trusted.

Writing is all or nothing: the files go into a temp directory beside the target, which is moved into
place with os.replace once complete, so a failure never leaves a half-written run behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd

from backtests.errors import RunError
from backtests.files import check_out_dir
from backtests.metrics import PERIODS_PER_YEAR, convention, packages, summary, windows_only
from backtests.reports import plot_equity, tearsheet_problem, write_tearsheet
from backtests.result import ORDER_COLUMNS, TRADE_COLUMNS, RunResult

FORMAT = 2  # bumped when the layout of a saved run changes, so load_run can refuse what it cannot read
RETURNS_CSV = "returns.csv"
TRADES_CSV = "trades.csv"
ORDERS_CSV = "orders.csv"
POSITIONS_CSV = "positions.csv"
PACKAGES_CSV = "packages.csv"
RUN_JSON = "run.json"
TEARSHEET_HTML = "tearsheet.html"
EQUITY_PNG = "equity.png"
_DATA_FILES = (RETURNS_CSV, TRADES_CSV, ORDERS_CSV, POSITIONS_CSV)  # what load_run reads back

_TRADE_DATES = ("entry_date", "exit_date")
_TRADE_TEXT = ("instrument", "kind", "exit_reason")
_ORDER_DATES = ("date", "expiry")
_ORDER_TEXT = ("instrument", "kind", "side", "option_type", "reason")


def default_out_dir(strategy: str, now: datetime | None = None, root: str | os.PathLike = "results") -> Path:
    """results/<strategy>-<YYYYmmdd-HHMMSS>: one directory per run, sorted by time within a strategy.

    >>> default_out_dir("neutral", datetime(2025, 12, 19, 16, 5, 0)).as_posix()
    'results/neutral-20251219-160500'
    """
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in strategy.strip())
    if not name.strip("-_."):
        raise RunError(f"cannot name an output directory after the strategy {strategy!r}")
    now = datetime.now() if now is None else now
    return Path(root) / f"{name}-{now:%Y%m%d-%H%M%S}"


def _finite(value):
    """The value with NaN and infinities as None (JSON has neither) and dataclasses as plain dicts, so
    run.json is strict JSON any tool reads; everything else json cannot encode becomes its str()."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _finite(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _returns_frame(result: RunResult) -> pd.DataFrame:
    columns = {"returns": result.returns, "benchmark": result.benchmark, "equity": result.equity}
    if len(result.exposure):
        columns["exposure"] = result.exposure
    if len(result.risk_free):
        columns["risk_free"] = result.risk_free
    frame = pd.concat(columns, axis=1).reindex(result.returns.index)
    frame.index.name = "date"
    return frame


def _ordered(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The agreed columns first in their agreed order, anything extra the runner added after them."""
    return frame[[c for c in columns if c in frame.columns] + [c for c in frame.columns if c not in columns]]


def _write_files(
    result: RunResult, directory: Path, figures: dict, tearsheet: bool, periods_per_year: int, rf
) -> None:
    csv = {"date_format": "%Y-%m-%d", "lineterminator": "\n"}
    _returns_frame(result).to_csv(directory / RETURNS_CSV, **csv)
    _ordered(result.trades, TRADE_COLUMNS).to_csv(directory / TRADES_CSV, index=False, **csv)
    _ordered(result.orders, ORDER_COLUMNS).to_csv(directory / ORDERS_CSV, index=False, **csv)
    result.positions.to_csv(directory / POSITIONS_CSV, index_label="date", **csv)
    packages(result.trades, result.equity).to_csv(directory / PACKAGES_CSV, index=False, **csv)
    plot_equity(result, directory / EQUITY_PNG)
    notes = []
    if tearsheet:
        problem = tearsheet_problem(result)
        if problem:
            notes.append(f"{TEARSHEET_HTML} not written: {problem}")
        else:
            write_tearsheet(result, directory / TEARSHEET_HTML, periods_per_year=periods_per_year, rf=rf)
    files = sorted(p.name for p in directory.iterdir())
    document = {
        "format": FORMAT,
        "strategy": result.strategy,
        "sessions": len(result.returns),
        "first_session": f"{result.returns.index[0]:%Y-%m-%d}",
        "last_session": f"{result.returns.index[-1]:%Y-%m-%d}",
        "series_names": {
            "returns": result.returns.name,
            "benchmark": result.benchmark.name,
            "equity": result.equity.name,
            "exposure": result.exposure.name,
        },
        "settings": result.settings,
        "costs": result.costs,
        "metrics": figures,
        "metric_conventions": {
            "periods_per_year": periods_per_year,
            "risk_free": "T-bill returns (returns.csv risk_free)" if rf is None else f"annual rate {rf}",
            "windows_only": windows_only(result),
            "text": convention(result, rf, windows_only(result)),
        },
        "files": {name: _sha256(directory / name) for name in files},
        "notes": notes,
    }
    text = json.dumps(_finite(document), default=str, indent=2, sort_keys=True, allow_nan=False)
    (directory / RUN_JSON).write_text(text + "\n", encoding="utf-8")


def write_run(
    result: RunResult,
    out_dir: str | os.PathLike,
    tearsheet: bool = True,
    overwrite: bool = False,
    periods_per_year: int = PERIODS_PER_YEAR,
    rf=None,
    windows: pd.DataFrame | None = None,
    seed: int = 0,
) -> Path:
    """Write every file of the run into out_dir (created, with its parents, if missing); return it.

    An out_dir that exists and holds anything is refused unless overwrite=True, so one run never
    silently replaces another; with overwrite the old directory is removed only after the new one is
    complete. rf None measures Sharpe over the run's T-bill returns; `windows` is the per-window table
    a windows-only run's headline figures come from. tearsheet=False skips the quantstats page (the
    slowest file, several seconds); a run whose returns are constant gets no tearsheet either, and
    run.json's "notes" says why.
    """
    target = check_out_dir(out_dir, overwrite, option="output directory", offer_overwrite=False)
    # refuses a broken result before any I/O
    figures = summary(result, periods_per_year=periods_per_year, rf=rf, windows=windows, seed=seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _write_files(result, staging, figures, tearsheet, periods_per_year, rf)
        staging.chmod(0o755)  # mkdtemp makes it private; a results directory is an ordinary one
        if target.is_dir() and any(target.iterdir()):
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, retired)
            try:
                os.replace(staging, target)
            except BaseException:
                os.replace(retired, target)  # put the old run back rather than lose both
                raise
            shutil.rmtree(retired)
        else:
            os.replace(staging, target)  # an empty target directory is replaced in one rename
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _read_csv(run_dir: Path, name: str, **options) -> pd.DataFrame:
    try:
        return pd.read_csv(run_dir / name, **options)
    except (ValueError, pd.errors.ParserError) as exc:
        raise RunError(f"saved run {run_dir}: {name} cannot be read ({exc})") from exc


def _dates(frame: pd.DataFrame, columns, run_dir: Path, name: str) -> pd.DataFrame:
    """Date columns as datetime64 even when every value is blank (an all-NaT expiry of a stock-only run)."""
    for column in columns:
        if column in frame.columns:
            try:
                frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
            except (ValueError, TypeError) as exc:
                raise RunError(f"saved run {run_dir}: {name} column {column!r} holds a non-date") from exc
    return frame


def _text(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Text columns back to "" where CSV turned an empty string into NaN (option_type of a stock fill)."""
    for column in columns:
        if column in frame.columns:
            frame[column] = frame[column].astype(object).fillna("").astype(str)
    return frame


def _require(frame: pd.DataFrame, columns, run_dir: Path, name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RunError(f"saved run {run_dir}: {name} has no column {missing[0]!r}")


def load_run(run_dir: str | os.PathLike) -> RunResult:
    """Read a directory written by write_run back into a RunResult (settings as run.json stores them:
    JSON values, dataclasses as dicts, dates as strings).

    Refuses, naming the directory and the file, a run with a file missing, unreadable, or changed since
    it was written (its sha256 no longer matches run.json), so a comparison never runs on altered data.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"saved run {run_dir} does not exist or is not a directory")
    for name in (RUN_JSON, *_DATA_FILES):
        if not (run_dir / name).is_file():
            raise RunError(f"saved run {run_dir} is missing {name}")
    try:
        document = json.loads((run_dir / RUN_JSON).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunError(f"saved run {run_dir}: {RUN_JSON} is not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        raise RunError(f"saved run {run_dir}: {RUN_JSON} has format {found!r}, this version reads {FORMAT}")
    for key in ("strategy", "files", "series_names", "settings", "costs"):
        if key not in document:
            raise RunError(f"saved run {run_dir}: {RUN_JSON} has no {key!r} entry")
    for name in _DATA_FILES:
        if document["files"].get(name) != _sha256(run_dir / name):
            raise RunError(f"saved run {run_dir}: {name} was changed after the run was written (sha256)")

    daily = _read_csv(run_dir, RETURNS_CSV, index_col="date", parse_dates=["date"])
    _require(daily, ("returns", "benchmark", "equity"), run_dir, RETURNS_CSV)
    daily.index = daily.index.astype("datetime64[us]")
    names = document["series_names"]
    exposure = daily["exposure"].dropna() if "exposure" in daily.columns else pd.Series(dtype=float)
    free = daily["risk_free"].fillna(0.0) if "risk_free" in daily.columns else pd.Series(dtype=float)

    trades = _read_csv(run_dir, TRADES_CSV)
    _require(trades, TRADE_COLUMNS, run_dir, TRADES_CSV)
    trades = _text(_dates(trades, _TRADE_DATES, run_dir, TRADES_CSV), _TRADE_TEXT)
    orders = _read_csv(run_dir, ORDERS_CSV)
    _require(orders, ORDER_COLUMNS, run_dir, ORDERS_CSV)
    orders = _text(_dates(orders, _ORDER_DATES, run_dir, ORDERS_CSV), _ORDER_TEXT)
    positions = _read_csv(run_dir, POSITIONS_CSV, index_col="date", parse_dates=["date"])
    positions.index = positions.index.astype("datetime64[us]")

    return RunResult(
        strategy=document["strategy"],
        returns=daily["returns"].rename(names.get("returns")),
        benchmark=daily["benchmark"].rename(names.get("benchmark")),
        equity=daily["equity"].dropna().rename(names.get("equity")),
        trades=trades,
        orders=orders,
        positions=positions,
        exposure=exposure.rename(names.get("exposure")),
        risk_free=free.rename("risk_free"),
        costs=document["costs"],
        settings=document["settings"],
    )
