"""`cli.py backtest` end to end: settings in, a run on disk and a metrics table out.

The CLI only parses; this module turns the merged settings (config file plus command line) into a
MarketSpec and RunSettings, runs, writes the outputs and returns what the terminal shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from backtests.files import check_out_dir
from backtests.market import Market, MarketSpec, prepare_market, window_market
from backtests.metrics import format_table, metrics_table
from backtests.outputs import default_out_dir, write_run
from backtests.regime_eval import DEFAULT_MODEL
from backtests.result import RunResult
from backtests.runner import RunSettings, run_backtest
from backtests.symbols import check_market, check_params, preflight_csv
from backtests.windows_eval import (
    WINDOWS_CSV,
    event_summary,
    format_claims,
    format_summary,
    load_claims,
    window_table,
    write_window_table,
)
from data.frames import to_date
from strategies.config import risk_config_over
from strategies.playbook import Playbook
from strategies.registry import build_params, get_strategy

RISK_KEYS = ("stop", "take_profit", "portfolio_stop", "size", "max_weight", "tranches", "costs")


@dataclass(frozen=True)
class BacktestOutcome:
    """What `cli.py backtest` shows. A windows-only run adds the per-window table
    (backtests.windows_eval.window_table, also written as windows.csv), its event-study summary and
    the text the terminal prints for both, with the playbook's claims checked on the same data."""

    result: RunResult
    out_dir: Path | None
    table: str
    notes: tuple[str, ...]
    windows: pd.DataFrame | None = None
    window_summary: pd.DataFrame | None = None
    window_text: str = ""


def market_spec(settings: dict, run: RunSettings | None = None) -> MarketSpec:
    """The data part of the settings; the ATR and realised-vol look-backs the run's risk rules read."""
    run = run if run is not None else run_settings(settings)
    atr_rules = [r for r in (*run.risk.stops, run.risk.take_profit) if r is not None and r.kind == "atr"]
    return MarketSpec(
        atr_sessions=atr_rules[0].atr_sessions if atr_rules else 14,
        atr_windows=tuple(sorted({r.atr_sessions for r in atr_rules[1:]})),
        vol_sessions=run.risk.sizing.vol_lookback,
        source=settings.get("source") or "embedded",
        start=_day(settings.get("start")),
        end=_day(settings.get("end")),
        data_dir=settings.get("data_dir"),
        cache_dir=settings.get("cache_dir"),
        window=settings.get("window") or "full",
        before=int(settings.get("before", 5) if settings.get("before") is not None else 5),
        after=int(settings.get("after", 5) if settings.get("after") is not None else 5),
        regime_model=settings.get("model") or DEFAULT_MODEL,
        cash_rate=None if settings.get("cash_rate") is None else float(settings["cash_rate"]),
        span="all" if run.strategy == "benchmark" else "playbook",
        universe=tuple((settings.get("universe") or {}).items()),
    )


def run_settings(settings: dict) -> RunSettings:
    """The strategy part: parameters, risk rules (the strategy's defaults, overridden key by key by
    what the user gave), cash, seed, and whether to trade only inside the evaluation window."""
    name = settings["strategy"]
    own = isinstance(name, Playbook)  # a Playbook instance given from Python (backtests.api)
    defaults = name.default_risk if own else get_strategy(name).default_risk
    # the user's rules, parsed once from their text, over the strategy's typed defaults
    risk = risk_config_over(defaults, {k: settings.get(k) for k in RISK_KEYS})
    window = settings.get("window") or "full"
    return RunSettings(
        strategy=name,
        params=None if own else build_params(name, settings.get("params") or {}),
        risk=risk,
        cash=float(settings.get("cash") or 1_000_000.0),
        windows_only=window != "full",
        seed=int(settings.get("seed") or 0),
    )


def backtest(settings: dict, market: Market | None = None, write: bool = True,
             tearsheet: bool = True, run: RunSettings | None = None,
             spec: MarketSpec | None = None) -> BacktestOutcome:
    """Run the strategy the settings name; write its files to settings["out"] (or the default). A
    used or unwritable out is refused before anything runs (settings["overwrite"] allows a used one).
    `run` and `spec` given (a rerun of a saved run.json, backtests.provenance) replace what the
    settings would build; settings["command"] is recorded in run.json."""
    overwrite = bool(settings.get("overwrite"))
    if write:
        check_out_dir(settings.get("out"), overwrite)
    run = run if run is not None else run_settings(settings)
    check_params(run.strategy, run.params)  # a parameter naming a symbol the run would not load
    if market is None:
        spec = spec or market_spec(settings, run)
        preflight_csv([run.strategy], spec)  # every missing file at once, before anything is loaded
        market = prepare_market(spec)
    check_market(run.strategy, market)
    if run.windows_only and not market.stepped:
        market = window_market(market)
    result = run_backtest(run, market)
    if settings.get("command"):
        result.settings["command"] = list(settings["command"])
    windows = summary = None
    window_text = ""
    if run.windows_only and market.windows:
        windows = window_table(result, market.windows, market.regime)
        summary = event_summary(windows, seed=run.seed)
        claims = load_claims(market.spec, seed=run.seed)
        window_text = "\n".join((format_summary(summary, run.name, windows, seed=run.seed),
                                 format_claims(claims)))
    out_dir = None
    if write:
        target = Path(settings["out"]) if settings.get("out") else default_out_dir(run.name)
        out_dir = write_run(result, target, tearsheet=tearsheet, overwrite=overwrite, windows=windows,
                            seed=run.seed)
        if windows is not None:
            write_window_table(windows, out_dir / WINDOWS_CSV)
    per_window = {run.name: windows} if windows is not None else None
    table = format_table(metrics_table(result, windows=per_window, seed=run.seed))
    return BacktestOutcome(result, out_dir, table, tuple(market.notes), windows, summary, window_text)


def _day(value) -> pd.Timestamp | None:
    return to_date(value)  # data's one date parser: YYYY-MM-DD text only
