"""`cli.py compare`: several strategies on the same data, side by side, in one self-contained page.

Either the strategies are run here (the market is prepared ONCE and every strategy runs on it, so
the comparison cannot mix data) or saved runs are loaded (backtests.outputs.load_run) and compared
as they are. The comparison holds the metrics table (backtests.metrics.metrics_table: one column per
run plus the benchmark), and with a window kind the per-window returns side by side, the
event-study summary of every run and of the benchmark, and the playbook's claims on the same data.

Everything lands in one output directory, written all or nothing (a temp directory moved into place):
compare.html (backtests.compare_html), metrics.csv, windows.csv (side by side, with a window kind) and,
for strategies run here, one saved run per strategy that a later `compare --from` can reuse.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from backtests import jobs
from backtests.compare_html import STEPPED_NOTE, write_report
from backtests.errors import RunError
from backtests.files import check_out_dir
from backtests.market import MarketSpec, prepare_market, window_market
from backtests.metrics import format_table, metrics_table
from backtests.outputs import default_out_dir, load_run, write_run
from backtests.regime_eval import DEFAULT_MODEL
from backtests.result import RunResult
from backtests.runner import run_backtest
from backtests.symbols import check_market, preflight_csv
from backtests.windows_eval import (
    RESAMPLES,
    WINDOWS_CSV,
    PlaybookClaims,
    event_stats,
    format_claims,
    format_summary_rows,
    load_claims,
    progress,
    read_windows,
    window_table,
    write_window_table,
)
from data.windows import WINDOW_KINDS, windows_of_kind
from strategies.errors import ConfigError
from strategies.registry import get_strategy

REPORT_HTML = "compare.html"
METRICS_CSV = "metrics.csv"


@dataclass(frozen=True)
class Comparison:
    """Everything the report and the terminal show.

    names      the column name of each run in every table (metrics_table's naming: a strategy
               name, "name (2)" for a repeat)
    metrics    backtests.metrics.metrics_table of the runs
    kind       the window kind, or None for full history only
    windows    one row per window (index event; first, last), one return column per run, then the
               benchmark ("benchmark", or "benchmark (name)" per run when their benchmarks differ)
    tables     per run: backtests.windows_eval.window_table (regime columns NaN for a saved run)
    summary    event-study rows (SUMMARY_COLUMNS): each run, the benchmark, each run - benchmark
    claims     the playbook's claims on the runs' data and windows
    origins    per run: "run here" or the saved directory it was loaded from
    """

    results: tuple[RunResult, ...]
    names: tuple[str, ...]
    metrics: pd.DataFrame
    kind: str | None = None
    windows: pd.DataFrame | None = None
    tables: dict = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    claims: PlaybookClaims | None = None
    origins: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    seed: int = 0
    resamples: int = RESAMPLES
    data: str = ""  # one line: source and sessions


@dataclass(frozen=True)
class CompareOutcome:
    comparison: Comparison
    out_dir: Path
    report: Path
    text: str


def parse_strategies(text: str) -> list[str]:
    """The comma-separated strategy names, each checked against the registry (an unknown name is a
    ConfigError with a did-you-mean hint) and none twice.

    >>> parse_strategies(" momentum, neutral ")
    ['momentum', 'neutral']
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError("--strategies is empty; give names such as momentum,neutral,defensive,playbook")
    for name in names:
        get_strategy(name)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"strategy {repeated[0]!r} is listed twice in --strategies")
    return names


def shared_spec(names, settings: dict) -> MarketSpec:
    """The one MarketSpec every strategy runs on. The spec carries the indicator look-backs a
    strategy's risk rules read (ATR, realised volatility); strategies whose default rules need
    different ones cannot share a market, and are refused rather than run on the wrong indicators."""
    specs = {name: jobs.market_spec({**settings, "strategy": name}) for name in names}
    # the benchmark alone defaults to the whole history; beside a playbook it runs on the playbook's
    # span (market.default_span), so that every strategy is judged on the same sessions
    span = "playbook" if any(spec.span == "playbook" for spec in specs.values()) else "all"
    specs = {name: dataclasses.replace(spec, span=span) for name, spec in specs.items()}
    first = specs[names[0]]
    for name, spec in specs.items():
        if spec != first:
            raise RunError(f"{name} needs other indicator look-backs (ATR {spec.atr_sessions}, volatility "
                           f"{spec.vol_sessions} sessions) than {names[0]} (ATR {first.atr_sessions}, "
                           f"volatility {first.vol_sessions}); compare them in separate runs")
    return first


def run_strategies(names, spec: MarketSpec, seed: int = 0, show_progress: bool | None = None,
                   progress_file=None):
    """Prepare the market once and run every strategy on it with its default parameters and risk
    rules (windows-only on a stepped market when spec.window is a window kind). Returns (results,
    market): the market unstepped, whose regime frame the per-window tables read."""
    names = list(names)
    for name in names:
        get_strategy(name)  # refuse a bad name before the data is prepared
    preflight_csv(names, spec)
    market = prepare_market(spec)
    for name in names:
        check_market(name, market)
    stepped = window_market(market) if spec.window != "full" else market
    results = []
    for name in progress(names, "compare: strategies", len(names), show_progress, progress_file):
        run = jobs.run_settings({"strategy": name, "window": spec.window, "seed": seed})
        results.append(run_backtest(run, stepped))
    return results, market


def _column_names(results) -> list[str]:
    """The column names metrics_table gives the runs (a repeated strategy becomes "name (2)")."""
    names: list[str] = []
    for run in results:
        name, suffix = run.strategy, 2
        while name in names:
            name, suffix = f"{run.strategy} ({suffix})", suffix + 1
        names.append(name)
    return names


def saved_windows(run_dir: Path, result: RunResult, kind: str) -> list:
    """The windows of `kind` a saved run is judged on: its own windows.csv when it holds that kind
    (exactly the windows it was run on), else the windows of `kind` on the run's own sessions, with
    the before/after its run.json records (a stepped run keeps every session of its windows, so
    they come out the same)."""
    market = result.settings.get("market", {}) if isinstance(result.settings, dict) else {}
    ran_on = market.get("window") or "full"
    if ran_on != "full" and ran_on != kind:
        # a windows-only run was flat outside its own windows: other windows would judge nothing
        raise RunError(f"saved run {run_dir} was run on {ran_on} windows; compare it with --window {ran_on}")
    recorded = Path(run_dir) / WINDOWS_CSV
    if recorded.is_file():
        windows = read_windows(recorded)
        if windows and all(w.kind == kind for w in windows):
            return windows
    before, after = _sessions(market, "before"), _sessions(market, "after")
    windows = windows_of_kind(kind, pd.DatetimeIndex(result.returns.index), before, after)
    if not windows:
        raise RunError(f"saved run {run_dir} has no complete {kind} window in its sessions")
    return windows


def _sessions(record: dict, key: str) -> int:
    """before/after as run.json records them (5, the default, when absent).

    >>> _sessions({"before": 0}, "before"), _sessions({}, "after")
    (0, 5)
    """
    value = record.get(key)
    return 5 if value is None else int(value)


def load_saved(paths, show_progress: bool | None = None, progress_file=None) -> list[RunResult]:
    """Load saved runs (backtests.outputs.load_run), refusing the same directory twice."""
    paths = [Path(p) for p in paths]
    resolved = [p.resolve() for p in paths]
    for n, p in enumerate(resolved):
        if p in resolved[:n]:
            raise RunError(f"saved run {paths[n]} is given twice")
    return [load_run(p) for p in progress(paths, "compare: saved runs", len(paths), show_progress,
                                          progress_file)]


def side_by_side(names, tables: dict) -> pd.DataFrame:
    """One row per window (the union of the runs' windows, by event), one return column per run, then
    the benchmark: a single "benchmark" column when every run's benchmark gives the same window
    returns (the same data), else one "benchmark (name)" column per run."""
    frames = [tables[name][["first", "last"]] for name in names]
    spans = pd.concat(frames)
    spans = spans[~spans.index.duplicated(keep="first")].sort_index()
    out = spans.copy()
    for name in names:
        out[name] = tables[name]["return"].reindex(out.index)
    benchmarks = [tables[name]["benchmark_return"].reindex(out.index) for name in names]
    shared = all(np.allclose(b.to_numpy(float), benchmarks[0].to_numpy(float), rtol=0, atol=1e-12,
                             equal_nan=True) for b in benchmarks[1:])
    if shared:
        out["benchmark (index)" if "benchmark" in names else "benchmark"] = benchmarks[0]
    else:
        for name, b in zip(names, benchmarks):
            out[f"benchmark ({name})"] = b
    return out


def event_study(names, tables: dict, seed: int = 0, resamples: int = RESAMPLES) -> pd.DataFrame:
    """Event-study rows for each run, the benchmark (the first run's; per run when they differ) and
    each run's excess over its benchmark, with one seed for every bootstrap."""
    rows = {}
    for name in names:
        rows[name] = event_stats(tables[name]["return"], seed, resamples)
    first = tables[names[0]]["benchmark_return"]
    shared = all(np.allclose(tables[n]["benchmark_return"].reindex(first.index).to_numpy(float),
                             first.to_numpy(float), rtol=0, atol=1e-12, equal_nan=True)
                 and len(tables[n]) == len(first) for n in names[1:])
    if shared:  # the benchmark strategy's own row is "benchmark": the index beside it is named apart
        label = "benchmark (index)" if "benchmark" in names else "benchmark"
        rows[label] = event_stats(first, seed, resamples)
    else:
        for name in names:
            rows[f"benchmark ({name})"] = event_stats(tables[name]["benchmark_return"], seed, resamples)
    for name in names:
        rows[f"{name} - benchmark"] = event_stats(tables[name]["excess_return"], seed, resamples)
    return pd.DataFrame.from_dict(rows, orient="index")


def build_comparison(results, kind: str | None = None, windows_by_run=None,
                     regime: pd.DataFrame | None = None, claims: PlaybookClaims | None = None,
                     origins=(), notes=(), seed: int = 0, resamples: int = RESAMPLES,
                     show_progress: bool | None = None, progress_file=None) -> Comparison:
    """The comparison of `results`: metrics, and with `kind` the per-window tables (on each run's
    windows from `windows_by_run`), the side-by-side returns and the event study."""
    results = list(results)
    if not results:
        raise RunError("nothing to compare: give --strategies or saved runs with --from")
    names = _column_names(results)
    tables = {}
    if kind is not None:
        for name, result, windows in zip(names, results, windows_by_run):
            tables[name] = window_table(result, windows, regime, show_progress, progress_file)
    table = metrics_table(results, windows=tables, seed=seed)
    first = min(r.returns.index[0] for r in results)
    last = max(r.returns.index[-1] for r in results)
    record = results[0].settings.get("market", {}) if isinstance(results[0].settings, dict) else {}
    data = f"{record.get('source', 'embedded')} data, sessions {first:%Y-%m-%d} .. {last:%Y-%m-%d}"
    if kind is None:
        return Comparison(tuple(results), tuple(names), table, origins=tuple(origins), notes=tuple(notes),
                          seed=seed, resamples=resamples, data=data)
    return Comparison(
        tuple(results), tuple(names), table, kind, side_by_side(names, tables), tables,
        event_study(names, tables, seed, resamples), claims, tuple(origins), tuple(notes), seed, resamples,
        data,
    )


def format_comparison(comparison: Comparison) -> str:
    """What the terminal prints: the metrics table, and with windows the event study and the claims."""
    lines = list(f"note: {note}" for note in comparison.notes)
    lines.append(format_table(comparison.metrics))
    if comparison.kind is not None:
        lines.append(f"note: {STEPPED_NOTE}")
    if comparison.summary is not None:
        lines.append(f"event study on {comparison.kind} windows (window return = close before the first "
                     f"session -> close after the last; bootstrap {comparison.resamples:,} resamples, "
                     f"seed {comparison.seed}):")
        lines.extend(format_summary_rows(comparison.summary))
    if comparison.claims is not None:
        lines.append(format_claims(comparison.claims))
    return "\n".join(lines)


def _spec_of_saved(result: RunResult, kind: str) -> MarketSpec:
    """The data part of a saved run (as run.json records it), for checking the claims on the same data."""
    record = result.settings.get("market", {}) if isinstance(result.settings, dict) else {}

    def day(value):
        return None if value in (None, "", "None", "NaT") else pd.Timestamp(value).normalize()

    return MarketSpec(source=record.get("source") or "embedded", start=day(record.get("start")),
                      end=day(record.get("end")), data_dir=record.get("data_dir"),
                      cache_dir=record.get("cache_dir"), window=kind,
                      before=_sessions(record, "before"), after=_sessions(record, "after"),
                      regime_model=record.get("regime_model") or DEFAULT_MODEL,
                      cash_rate=None if record.get("cash_rate") is None else float(record["cash_rate"]))


def _saved_kind(results) -> str | None:
    """The window kind every saved run was run on, or None when they were not all run on one."""
    kinds = {(r.settings.get("market", {}) or {}).get("window") if isinstance(r.settings, dict) else None
             for r in results}
    kind = kinds.pop() if len(kinds) == 1 else None
    return kind if kind in WINDOW_KINDS else None


def _staging(target: Path, overwrite: bool = False) -> Path:
    """A temp directory beside the target, moved into place once everything is written."""
    check_out_dir(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))


def compare(strategies=None, runs_from=None, settings: dict | None = None, out=None,
            show_progress: bool | None = None, progress_file=None, overwrite: bool = False) -> CompareOutcome:
    """Run `strategies` (names) on the data `settings` describe (source, data_dir, cache_dir, start,
    end, window, before, after, seed), or load the saved runs `runs_from`, and write the comparison
    to `out` (default results/compare-<time>/; a used one is refused before anything runs, unless
    `overwrite`, and then replaced only once the new report is complete). Returns the comparison,
    where it went and the text the terminal prints."""
    settings = dict(settings or {})
    if bool(strategies) == bool(runs_from):
        raise RunError("give either strategies to run or saved runs to load (--from), not both or neither")
    seed = int(settings.get("seed") or 0)
    window = settings.get("window") or None
    if window not in (None, *WINDOW_KINDS):
        raise RunError(f"unknown window {window!r}; choose from {', '.join(WINDOW_KINDS)}")
    target = Path(out) if out else default_out_dir("compare")
    check_out_dir(target, overwrite)  # before the slow part: a taken directory fails at once
    if strategies:
        names = parse_strategies(strategies) if isinstance(strategies, str) else list(strategies)
        spec = shared_spec(names, {**settings, "window": window or "full"})
        results, market = run_strategies(names, spec, seed, show_progress, progress_file)
        origins = ["run here"] * len(results)
        windows_by_run = [market.windows] * len(results)
        regime, notes = market.regime, list(market.notes)
        claims_spec = spec
    else:
        results = load_saved(runs_from, show_progress, progress_file)
        origins = [str(p) for p in runs_from]
        window = window or _saved_kind(results)
        windows_by_run = [saved_windows(Path(p), r, window) for p, r in zip(runs_from, results)] \
            if window else None
        regime, notes = None, []
        claims_spec = _spec_of_saved(results[0], window) if window else None
        if window:
            for path, result in zip(runs_from, results):
                if not (isinstance(result.settings, dict) and result.settings.get("windows_only")) \
                        and result.strategy != "benchmark":
                    notes.append(f"{path} was not run windows-only: its window returns include positions "
                                  "taken before each window")
    claims = load_claims(claims_spec, window, seed=seed) if window else None
    comparison = build_comparison(results, window, windows_by_run, regime, claims, origins, notes, seed,
                                  show_progress=show_progress, progress_file=progress_file)
    staging = _staging(target, overwrite)
    try:
        if strategies:
            for name, result in zip(comparison.names, results):
                run_dir = write_run(result, staging / _safe(name), tearsheet=False,
                                    windows=comparison.tables.get(name), seed=seed)
                if window:
                    write_window_table(comparison.tables[name], run_dir / WINDOWS_CSV)
        comparison.metrics.to_csv(staging / METRICS_CSV, float_format="%.10g", lineterminator="\n")
        if comparison.windows is not None:
            comparison.windows.to_csv(staging / WINDOWS_CSV, date_format="%Y-%m-%d", float_format="%.10g",
                                      lineterminator="\n")
        write_report(comparison, staging / REPORT_HTML)
        staging.chmod(0o755)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    text = format_comparison(comparison)
    return CompareOutcome(comparison, target, target / REPORT_HTML, text)


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename staging to target; a used target (--overwrite) is moved aside first and removed only once
    the new one is in place, so a failure keeps the old report."""
    if not (target.is_dir() and any(target.iterdir())):
        os.replace(staging, target)  # absent or an empty directory: one rename
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.replace(target, retired)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(retired, target)
        raise
    shutil.rmtree(retired)


def _safe(name: str) -> str:
    """A run's directory name inside the comparison: its column name with spaces and brackets dropped.

    >>> _safe("momentum (2)")
    'momentum-2'
    """
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
    return "-".join(part for part in cleaned.split("-") if part)
