"""Judging a strategy window by window.

How a window is traded and measured (the one convention every table and tuning score uses):
a windows-only run decides at the close of the session before the window's first session to hold
positions, so it owns them from the first session's open; it decides at the close of the last
session to leave, so it sells at the next session's open. A window's return therefore runs from
the close of the session before `first` to the close of the session after `last`: the strategy's
whole holding period, and the benchmark's buy-and-hold over the same span.

On top of that convention this module builds the per-window table (`window_table`: returns,
drawdown, the regime the entry decision saw, fills and their costs), the event-study summary of a
column of window returns (`event_stats`, `event_summary`: mean, median, hit rate, t-stat and a
seeded bootstrap confidence interval of the mean), and the check of the playbook's own claims
(`playbook_claims`: the late-December rally, the 1-5 session ranges, the 35/45/20 scenarios).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

import data
from backtests.errors import RunError
from backtests.files import write_atomically
from backtests.metrics import (  # noqa: F401  (bootstrap_mean_ci, CI_LEVEL: re-exported for callers)
    CI_LEVEL,
    RESAMPLES,
    bootstrap_mean_ci,
    drawdown_series,
    event_stats,
)
from backtests.regime_eval import realized_regimes
from backtests.result import RunResult
from data.calendar import nyse_sessions
from data.errors import DataError
from data.windows import Window, window_mask, windows_of_kind
from strategies.regime import PRIOR, REGIMES

WINDOWS_CSV = "windows.csv"
# The column's figures, as quoted (fractions). The Nasdaq-100 range is the column's; offline the
# NASDAQ Composite stands for it (see the QQQ proxy).
QUOTED_DECEMBER_MEAN = 0.013
QUOTED_RANGES = {"S&P 500": ("SPY", -0.005, 0.015), "Nasdaq-100": ("QQQ", 0.002, 0.020)}
RANGE_HORIZONS = (1, 2, 3, 4, 5)  # sessions: the playbook's 1-5 day horizon
SCENARIO_HORIZON = 5  # sessions over which a realized regime is judged (backtests.regime_eval)
TABLE_COLUMNS = ["kind", "event", "first", "last", "sessions", "return", "benchmark_return", "excess_return",
                 "max_drawdown", "regime", "p_momentum", "p_range", "p_selloff", "trades", "costs"]
SUMMARY_COLUMNS = ["windows", "mean", "median", "hit_rate", "std", "t_stat", "ci_low", "ci_high"]


def measured_span(window, sessions: pd.DatetimeIndex) -> tuple[int, int]:
    """Positions (start, stop) in `sessions` of the returns that make up the window's return:
    from the session `first` (its return runs from the close before) through the session after
    `last`, clipped to the sessions there are. Sessions are matched by date."""
    start = sessions.searchsorted(window.first, side="left")
    stop = sessions.searchsorted(window.last, side="right") + 1
    return int(start), int(min(stop, len(sessions)))


def window_returns(returns: pd.Series, windows) -> pd.Series:
    """Compounded return of each window (see the module docstring), indexed by event date.

    >>> from data.windows import Window
    >>> days = pd.bdate_range("2018-01-01", periods=6)
    >>> r = pd.Series([0.5, 0.1, 0.1, 0.1, 0.5, 0.5], index=days)
    >>> w = Window("x", days[2], days[1], days[2], 2)
    >>> round(float(window_returns(r, [w]).iloc[0]), 6)     # sessions 1, 2, 3: 1.1 ** 3 - 1
    0.331
    """
    if not windows:
        raise RunError("no windows to evaluate")
    sessions = pd.DatetimeIndex(returns.index)
    growth = np.concatenate([[0.0], np.cumsum(np.log1p(returns.to_numpy(float)))])
    values = []
    for w in windows:
        start, stop = measured_span(w, sessions)
        values.append(np.expm1(growth[stop] - growth[start]) if stop > start else np.nan)
    return pd.Series(values, index=pd.DatetimeIndex([w.event for w in windows], name="event"),
                     name="window_return")


def progress(iterable, desc: str, total: int | None = None, enabled: bool | None = None, file=None):
    """A tqdm bar on stderr over `iterable`. enabled=None shows it only when the stream is a
    terminal (so logs and CI output stay clean); True forces it, False hides it."""
    return tqdm(iterable, desc=desc, total=total, file=file if file is not None else sys.stderr,
                disable=None if enabled is None else not enabled, leave=False, unit="")


def entry_regime(regime: pd.DataFrame, windows) -> pd.DataFrame:
    """The classifier's label and probabilities at the close of the session before each window's
    first session: what the entry decision saw (rows on or after `first` are never read).

    `regime` is Market.regime (columns momentum, range, selloff, label) on the market's sessions,
    full or stepped: a stepped market keeps the session before each window. A window starting on
    the first session has no entry close and gets NaN.

    >>> days = pd.bdate_range("2018-12-10", periods=4)
    >>> r = pd.DataFrame({"momentum": [.1, .2, .3, .4], "range": [.5, .5, .5, .5],
    ...                   "selloff": [.4, .3, .2, .1], "label": ["range"] * 4}, index=days)
    >>> entry_regime(r, [Window("x", days[2], days[2], days[3], 2)])["p_momentum"].tolist()
    [0.2]
    """
    index = pd.DatetimeIndex(regime.index)
    rows = []
    for w in windows:
        before = index.searchsorted(w.first, side="left") - 1
        if before < 0:
            rows.append({"regime": np.nan, "p_momentum": np.nan, "p_range": np.nan, "p_selloff": np.nan})
            continue
        row = regime.iloc[before]
        rows.append({"regime": row["label"], **{f"p_{name}": float(row[name]) for name in REGIMES}})
    return pd.DataFrame(rows, index=pd.DatetimeIndex([w.event for w in windows], name="event"))


def window_table(result: RunResult, windows, regime: pd.DataFrame | None = None,
                 show_progress: bool | None = None, progress_file=None) -> pd.DataFrame:
    """One row per window, indexed by event date (columns TABLE_COLUMNS):

    kind, event, first, last, sessions   the window (its own sessions, event included)
    return, benchmark_return             compounded over the measured span (module docstring)
    excess_return                        return - benchmark_return
    max_drawdown                         worst fall of the strategy's equity from its running peak
                                         inside the span, counted from the close before `first`
    regime, p_momentum, p_range, p_selloff
                                         the classifier at the entry close (see entry_regime); NaN
                                         when no regime frame is given (a saved run)
    trades                               fills (stock and option orders) dated inside the span
    costs                                their commission + slippage, in account currency (an option
                                         fill's slippage column holds its half bid-ask spread)

    A window the run's sessions do not reach has NaN returns and no fills.
    """
    if not windows:
        raise RunError(f"{result.strategy}: no windows to evaluate")
    sessions = pd.DatetimeIndex(result.returns.index)
    strategy = result.returns.astype(float)
    benchmark = result.benchmark.reindex(sessions).astype(float)
    orders = result.orders
    fill_dates = pd.DatetimeIndex(pd.to_datetime(orders["date"])).normalize() if len(orders) else None
    fill_costs = (orders["commission"].astype(float).fillna(0.0)
                  + orders["slippage"].astype(float).fillna(0.0)).to_numpy() if len(orders) else None
    rows = []
    for w in progress(windows, f"{result.strategy}: windows", len(windows), show_progress, progress_file):
        start, stop = measured_span(w, sessions)
        row = {"kind": w.kind, "event": w.event, "first": w.first, "last": w.last, "sessions": w.sessions}
        if stop > start:
            span = strategy.iloc[start:stop]
            row["return"] = float(np.prod(1.0 + span.to_numpy()) - 1.0)
            row["benchmark_return"] = float(np.prod(1.0 + benchmark.iloc[start:stop].to_numpy()) - 1.0)
            row["max_drawdown"] = float(drawdown_series(span).min())
            first_day, last_day = sessions[start], sessions[stop - 1]
        else:
            row["return"] = row["benchmark_return"] = row["max_drawdown"] = np.nan
            first_day = last_day = None
        row["excess_return"] = row["return"] - row["benchmark_return"]
        if fill_dates is not None and first_day is not None:
            inside = (fill_dates >= first_day) & (fill_dates <= last_day)
            row["trades"] = int(inside.sum())
            row["costs"] = float(fill_costs[inside].sum())
        else:
            row["trades"], row["costs"] = 0, 0.0
        rows.append(row)
    table = pd.DataFrame(rows)
    table.index = pd.DatetimeIndex(table["event"], name="event")
    if regime is not None:
        table = table.join(entry_regime(regime, windows))
    else:
        table = table.assign(regime=np.nan, p_momentum=np.nan, p_range=np.nan, p_selloff=np.nan)
    table["trades"] = table["trades"].astype(np.int64)
    return table[TABLE_COLUMNS]


def event_summary(table: pd.DataFrame, seed: int = 0, resamples: int = RESAMPLES) -> pd.DataFrame:
    """Event-study figures (SUMMARY_COLUMNS) of a window_table: rows "strategy" (its returns),
    "benchmark" (buy-and-hold over the same spans) and "excess" (strategy - benchmark per window).
    Each row is bootstrapped with the same seed, so the run is repeatable."""
    rows = {name: event_stats(table[column], seed, resamples) for name, column in
            (("strategy", "return"), ("benchmark", "benchmark_return"), ("excess", "excess_return"))}
    return pd.DataFrame.from_dict(rows, orient="index")[SUMMARY_COLUMNS]


def _pct(value: float, signed: bool = True) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    return f"{value:+.2%}" if signed else f"{value:.1%}"


def format_summary_rows(summary: pd.DataFrame) -> list[str]:
    """Aligned text rows of an event summary (any row labels), with a header."""
    width = max(len("returns"), *(len(str(name)) for name in summary.index))
    head = (f"{'returns':<{width}}  {'windows':>7}  {'mean':>7}  {'median':>7}  {'hit rate':>8}  "
            f"{'std':>7}  {'t-stat':>6}  {'95% CI of the mean':>19}")
    lines = [head]
    for name, row in summary.iterrows():
        t_stat = f"{row['t_stat']:.2f}" if math.isfinite(row["t_stat"]) else "-"
        ci = f"[{_pct(row['ci_low'])}, {_pct(row['ci_high'])}]"
        lines.append(f"{str(name):<{width}}  {int(row['windows']):>7}  {_pct(row['mean']):>7}  "
                     f"{_pct(row['median']):>7}  {_pct(row['hit_rate'], False):>8}  "
                     f"{_pct(row['std']).lstrip('+'):>7}  {t_stat:>6}  {ci:>19}")
    return lines


def format_summary(summary: pd.DataFrame, strategy: str, table: pd.DataFrame,
                   seed: int = 0, resamples: int = RESAMPLES) -> str:
    """The event summary as the lines `cli.py backtest --window` prints."""
    kind = table["kind"].iloc[0]
    # the benchmark strategy against the index: two rows must not share the name "benchmark"
    index_name = "benchmark (index)" if strategy == "benchmark" else "benchmark"
    renamed = summary.rename(index={"strategy": strategy, "benchmark": index_name,
                                    "excess": f"{strategy} - {index_name}"})
    lines = [
        f"event study: {strategy} on {len(table)} {kind} windows, events "
        f"{table.index[0]:%Y-%m-%d} .. {table.index[-1]:%Y-%m-%d}",
        "window return = close before the first session -> close after the last (positions held from "
        "the first open to the open after the last); hit rate = share of windows above 0",
        f"t-stat = mean / (std / sqrt(windows)); CI = percentile bootstrap, {resamples:,} resamples, "
        f"seed {seed}",
    ]
    lines.extend(format_summary_rows(renamed))
    traded = table["trades"].sum()
    lines.append(f"fills inside the windows: {traded}; their costs: {table['costs'].sum():,.0f} "
                 f"(commission + slippage + option spread)")
    return "\n".join(lines)


def write_window_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """The per-window table as CSV (ISO dates, one row per window), written atomically."""
    return write_atomically(path, lambda temp: table.to_csv(
        temp, index=False, date_format="%Y-%m-%d", lineterminator="\n", float_format="%.10g"))


def read_windows(path: str | os.PathLike) -> list[Window]:
    """The windows recorded in a windows.csv written by write_window_table (a saved run's own)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, parse_dates=["event", "first", "last"])
    except (ValueError, pd.errors.ParserError) as exc:
        raise RunError(f"{path} cannot be read as a window table ({exc})") from exc
    missing = [c for c in ("kind", "event", "first", "last", "sessions") if c not in frame.columns]
    if missing:
        raise RunError(f"{path} has no column {missing[0]!r}")
    return [Window(str(row.kind), pd.Timestamp(row.event), pd.Timestamp(row.first), pd.Timestamp(row.last),
                   int(row.sessions)) for row in frame.itertuples(index=False)]


# --- the playbook's own claims ---------------------------------------------------------------------


@dataclass(frozen=True)
class PlaybookClaims:
    """The column's figures next to what the data say.

    december   one row: event_stats of the S&P 500 proxy over each year-end window (close before the
               window's first session, the last before December 16, to the close of the last
               session of December) beside the quoted +1.3%; plus first/last year
    ranges     per index and horizon h (sessions): the share of h-session forward returns inside the
               quoted range and their 10th / 90th percentiles, on all sessions and per window
               (from the entry close, the close before `first`, over the window's first h sessions)
    scenarios  per scenario: the quoted prior and the realized frequencies on all sessions, on the
               window sessions and at the window entries (with a bootstrap CI of that share)
    """

    kind: str
    source: str
    first: pd.Timestamp
    last: pd.Timestamp
    december: pd.DataFrame
    ranges: pd.DataFrame
    scenarios: pd.DataFrame
    proxies: dict
    notes: tuple[str, ...]
    seed: int = 0
    resamples: int = RESAMPLES


def december_returns(close: pd.Series) -> pd.Series:
    """The index's return over the playbook's last two weeks of December, one per year the session
    index covers: from the close of the last session before the year-end window (data.windows
    "year-end": the sessions after December 15) to the close of December's last session.
    Indexed by that last session; a window with no session before it is left out."""
    sessions = pd.DatetimeIndex(close.index)
    values, events = [], []
    for w in windows_of_kind("year-end", sessions):
        start = sessions.searchsorted(w.first) - 1
        if start < 0:
            continue
        values.append(close.loc[w.last] / close.iloc[start] - 1.0)
        events.append(w.event)
    return pd.Series(values, index=pd.DatetimeIndex(events, name="event"), name="december_return",
                     dtype=float)


def forward_returns(close: pd.Series, horizon: int) -> pd.Series:
    """close(t + horizon) / close(t) - 1 on each session t; NaN on the last `horizon` sessions."""
    return close.shift(-horizon) / close - 1.0


def entry_returns(close: pd.Series, windows, horizon: int) -> pd.Series:
    """Per window: the return from the close before its first session over its first `horizon`
    sessions (what a position taken into the window made by then); NaN where the window is shorter
    or the data do not reach."""
    sessions = pd.DatetimeIndex(close.index)
    values = []
    for w in windows:
        start = sessions.searchsorted(w.first) - 1
        end = start + horizon
        ok = start >= 0 and horizon <= w.sessions and end < len(sessions)
        values.append(close.iloc[end] / close.iloc[start] - 1.0 if ok else np.nan)
    return pd.Series(values, index=pd.DatetimeIndex([w.event for w in windows], name="event"), dtype=float)


def _range_row(values: pd.Series, low: float, high: float, prefix: str) -> dict:
    data = values.dropna().to_numpy(float)
    if len(data) == 0:
        return {f"{prefix}_n": 0, f"{prefix}_inside": np.nan, f"{prefix}_p10": np.nan,
                f"{prefix}_p90": np.nan}
    p10, p90 = np.quantile(data, [0.10, 0.90])
    return {f"{prefix}_n": len(data), f"{prefix}_inside": float(np.mean((data >= low) & (data <= high))),
            f"{prefix}_p10": float(p10), f"{prefix}_p90": float(p90)}


def range_claims(closes: dict[str, pd.Series], windows) -> pd.DataFrame:
    """The quoted 1-5 session ranges per index (QUOTED_RANGES; `closes` keyed by symbol, an absent
    symbol is skipped) against all sessions' forward returns and the windows' entry returns."""
    rows = []
    for index_name, (symbol, low, high) in QUOTED_RANGES.items():
        if symbol not in closes:
            continue
        close = closes[symbol]
        for horizon in RANGE_HORIZONS:
            row = {"index": index_name, "symbol": symbol, "quoted_low": low, "quoted_high": high,
                   "horizon": horizon}
            row.update(_range_row(forward_returns(close, horizon), low, high, "all"))
            row.update(_range_row(entry_returns(close, windows, horizon), low, high, "windows"))
            rows.append(row)
    return pd.DataFrame(rows)


def scenario_claims(spy: pd.DataFrame, windows, seed: int = 0, resamples: int = RESAMPLES) -> pd.DataFrame:
    """The 35/45/20 prior against realized regimes (backtests.regime_eval.realized_regimes, horizon
    SCENARIO_HORIZON): frequencies on all sessions with a known label, on the sessions inside the
    windows, and at each window's entry close (the 5 sessions a window-long position starts with),
    the last with a bootstrap CI of the share."""
    realized = realized_regimes(spy, horizon=SCENARIO_HORIZON)
    sessions = pd.DatetimeIndex(spy.index)
    known = realized.dropna()
    inside = realized[window_mask(windows, sessions).to_numpy()].dropna()
    starts = [sessions.searchsorted(w.first) - 1 for w in windows]
    entries = realized.iloc[[s for s in starts if s >= 0]].dropna()
    rows = []
    for name, quoted in zip(REGIMES, PRIOR):
        hits = (entries == name).to_numpy(float)
        low, high = bootstrap_mean_ci(hits, seed, resamples) if len(hits) else (np.nan, np.nan)
        rows.append({
            "scenario": name, "quoted": quoted,
            "all_sessions": float((known == name).mean()) if len(known) else np.nan,
            "window_sessions": float((inside == name).mean()) if len(inside) else np.nan,
            "window_entries": float(hits.mean()) if len(hits) else np.nan,
            "entries_ci_low": low, "entries_ci_high": high,
        })
    table = pd.DataFrame(rows).set_index("scenario")
    table.attrs["counts"] = {"all_sessions": len(known), "window_sessions": len(inside),
                             "window_entries": len(entries)}
    return table


def unfinished_year_end(sessions: pd.DatetimeIndex) -> str | None:
    """A note when the data end inside a last-two-weeks-of-December (the NYSE calendar says which
    sessions the window still has), so that the year left out is named, not silently missing.

    >>> unfinished_year_end(pd.bdate_range("2022-12-01", "2022-12-28"))
    "year-end 2022 left out: the data end on 2022-12-28, before the window's last session 2022-12-30"
    """
    last = pd.Timestamp(sessions[-1])
    if last.month != 12 or last.day <= 15:
        return None
    december = nyse_sessions(last, pd.Timestamp(last.year, 12, 31))
    if len(december) == 0 or december[-1] <= last:
        return None
    return (f"year-end {last.year} left out: the data end on {last:%Y-%m-%d}, before the window's last "
            f"session {december[-1]:%Y-%m-%d}")


def index_years(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a spliced series that are its index itself (its OHLCV segments): a close-only
    stand-in of another kind (QQQ's tech basket) is not the index whose range the column quotes."""
    segments = frame.attrs.get("segments", [])
    if len(segments) < 2:
        return frame
    keep = np.zeros(len(frame), bool)
    for segment in segments:
        if segment["kind"] == "ohlcv":
            keep |= np.asarray((frame.index >= pd.Timestamp(segment["first"]))
                               & (frame.index <= pd.Timestamp(segment["last"])))
    out = frame[keep]
    out.attrs = dict(frame.attrs)
    return out


def playbook_claims(frames: dict[str, pd.DataFrame], kind: str, before: int = 5, after: int = 5,
                    seed: int = 0, resamples: int = RESAMPLES) -> PlaybookClaims:
    """Check the column's figures on `frames` (data.load output: "SPY" required, "QQQ" optional),
    with "in the windows" meaning the windows of `kind` on SPY's sessions."""
    if "SPY" not in frames:
        raise RunError("the playbook's claims need the S&P 500 proxy (SPY)")
    spy = frames["SPY"]
    sessions = pd.DatetimeIndex(spy.index)
    notes = []
    windows = windows_of_kind(kind, sessions, before, after)
    if not windows:
        raise RunError(f"no complete {kind} window between {sessions[0]:%Y-%m-%d} and "
                       f"{sessions[-1]:%Y-%m-%d}")
    december = december_returns(spy["close"])
    if len(december) == 0:
        raise RunError(f"no whole last-two-weeks-of-December between {sessions[0]:%Y-%m-%d} and "
                       f"{sessions[-1]:%Y-%m-%d}")
    stats = event_stats(december, seed, resamples)
    stats.update(quoted=QUOTED_DECEMBER_MEAN, first=december.index[0], last=december.index[-1],
                 quoted_inside_ci=stats["ci_low"] <= QUOTED_DECEMBER_MEAN <= stats["ci_high"])
    unfinished = unfinished_year_end(sessions)
    if unfinished:
        notes.append(unfinished)
    closes = {"SPY": spy["close"]}
    if "QQQ" in frames:
        qqq = index_years(frames["QQQ"])
        closes["QQQ"] = qqq["close"].reindex(sessions)
        if len(qqq) < len(frames["QQQ"]):
            notes.append(f"Nasdaq-100 range judged on the NASDAQ Composite's own sessions only "
                         f"({qqq.index[0]:%Y-%m-%d} .. {qqq.index[-1]:%Y-%m-%d}); outside them QQQ is a "
                         "stand-in basket, not an index")
    else:
        notes.append("no Nasdaq-100 proxy (QQQ) in the data: its range is not checked")
    proxies = {symbol: frame.attrs.get("proxy", symbol) for symbol, frame in frames.items()}
    return PlaybookClaims(
        kind=kind, source=str(spy.attrs.get("source", "")), first=sessions[0], last=sessions[-1],
        december=pd.DataFrame([stats], index=["S&P 500"]),
        ranges=range_claims(closes, windows),
        scenarios=scenario_claims(spy, windows, seed, resamples),
        proxies=proxies, notes=tuple(notes), seed=seed, resamples=resamples,
    )


def load_claims(spec, kind: str | None = None, seed: int = 0) -> PlaybookClaims:
    """playbook_claims on the data a MarketSpec names (source, span), windows of `kind` (default:
    the spec's own window)."""
    kind = kind or spec.window
    frames = data.load(["SPY"], spec.start, spec.end, source=spec.source, data_dir=spec.data_dir,
                       cache_dir=spec.cache_dir)
    try:
        frames.update(data.load(["QQQ"], spec.start, spec.end, source=spec.source, data_dir=spec.data_dir,
                                cache_dir=spec.cache_dir))
    except DataError:
        pass  # playbook_claims notes the missing Nasdaq-100 range
    return playbook_claims(frames, kind, spec.before, spec.after, seed=seed)


def format_claims(claims: PlaybookClaims) -> str:
    """The claims as the lines the CLI prints: each quoted figure beside the measured one."""
    d = claims.december.iloc[0]
    verdict = "inside" if d["quoted_inside_ci"] else "OUTSIDE"
    lines = [
        f"playbook claims, {claims.source} data {claims.first:%Y-%m-%d} .. {claims.last:%Y-%m-%d} "
        f"(SPY = {claims.proxies.get('SPY', 'SPY')}"
        + (f"; QQQ = {claims.proxies['QQQ']}" if "QQQ" in claims.proxies else "") + ")",
        f"S&P 500, last two weeks of December ({int(d['windows'])} years {d['first']:%Y}..{d['last']:%Y}; "
        "close of the last session on or before December 15 -> last December close):",
        f"  quoted {_pct(d['quoted'])} on average; measured mean {_pct(d['mean'])}, median "
        f"{_pct(d['median'])}, hit rate {_pct(d['hit_rate'], False)}, t-stat {d['t_stat']:.2f}, 95% CI "
        f"[{_pct(d['ci_low'])}, {_pct(d['ci_high'])}]: the quoted mean is {verdict} the CI",
        f"1-5 session ranges: share of forward returns inside the quoted range, and the actual 10th..90th "
        f"percentile; all sessions, and per {claims.kind} window from its entry close:",
        f"  {'index':<11} {'quoted':<15} {'h':>2}  {'all: inside':>11}  {'p10..p90':>17}  "
        f"{'windows: inside':>15}  {'p10..p90':>17}",
    ]
    for row in claims.ranges.itertuples(index=False):
        quoted = f"{row.quoted_low:+.1%}..{row.quoted_high:+.1%}"
        lines.append(
            f"  {row.index:<11} {quoted:<15} {row.horizon:>2}  {_pct(row.all_inside, False):>11}  "
            f"{_pct(row.all_p10) + '..' + _pct(row.all_p90):>17}  {_pct(row.windows_inside, False):>15}  "
            f"{_pct(row.windows_p10) + '..' + _pct(row.windows_p90):>17}")
    counts = claims.scenarios.attrs.get("counts", {})
    lines.append(
        f"scenarios: the quoted prior against realized regimes (next {SCENARIO_HORIZON} sessions: above "
        f"+1.0% momentum, below -1.5% selloff, else range); {counts.get('all_sessions', 0)} sessions, "
        f"{counts.get('window_sessions', 0)} in windows, {counts.get('window_entries', 0)} window entries:")
    lines.append(f"  {'scenario':<9} {'quoted':>6}  {'all sessions':>12}  {'window sessions':>15}  "
                 f"{'window entries [95% CI]':>24}")
    for name, row in claims.scenarios.iterrows():
        entries = (f"{_pct(row['window_entries'], False)} [{_pct(row['entries_ci_low'], False)}, "
                   f"{_pct(row['entries_ci_high'], False)}]")
        lines.append(f"  {name:<9} {row['quoted']:>6.0%}  {_pct(row['all_sessions'], False):>12}  "
                     f"{_pct(row['window_sessions'], False):>15}  {entries:>24}")
    lines.extend(f"note: {note}" for note in claims.notes)
    return "\n".join(lines)
