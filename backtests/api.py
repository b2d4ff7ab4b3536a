"""The public Python API: prepare a market once, run built-in or your own playbooks on it, compare
them, tune their exits. Importable as `from backtests import prepare_market, run, compare, tune`.

    from backtests import prepare_market, run
    from strategies import Playbook, Target

    class Tilt(Playbook):
        symbols = ("SPY", "QQQ")
        def target(self, view):
            if view.close["QQQ"] > view.history("QQQ", 50).mean():
                return Target({"QQQ": 0.6, "SPY": 0.4})
            return Target({"SPY": 1.0})

    market = prepare_market(source="embedded", start="2005-01-03", end="2012-12-31")
    result = run(Tilt(), market)
    result.metrics["sharpe"], result.returns, result.equity, result.trades
    result.save("results/tilt")          # the files `cli.py backtest` writes

Risk rules, sizing and costs are the frozen dataclasses of strategies.risk, passed as objects; the
text forms (`trailing:5%`) belong to the command line and config files (strategies.rulespec).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pandas as pd

from backtests import market as _market
from backtests.errors import RunError
from backtests.market import Market, MarketSpec, window_market
from backtests.metrics import metrics_table
from backtests.regime_eval import DEFAULT_MODEL
from backtests.result import RunResult
from backtests.runner import RunSettings, run_backtest
from backtests.symbols import check_market, check_params
from strategies.contracts import ContractSpec
from strategies.playbook import Playbook
from strategies.risk import Costs, RiskConfig, Sizing

__all__ = ["prepare_market", "run", "compare", "tune", "Market", "MarketSpec", "RunResult"]


def _day(value, what: str) -> pd.Timestamp | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return pd.Timestamp(datetime.strptime(value, "%Y-%m-%d"))
        except ValueError:
            raise RunError(f"{what} {value!r} is not an ISO date (YYYY-MM-DD)") from None
    return pd.Timestamp(value).normalize()


def prepare_market(spec: MarketSpec | None = None, *, source: str = "embedded", start=None, end=None,
                   data_dir: str | None = None, cache_dir: str | None = None, window: str = "full",
                   before: int = 5, after: int = 5, model: str = DEFAULT_MODEL,
                   cash_rate: float | None = None, atr_sessions: int = 14, atr_windows: tuple[int, ...] = (),
                   vol_sessions: int = 20, span: str = "playbook", universe: dict | None = None) -> Market:
    """Load, validate and align the data and compute every signal once (backtests.market).

    source "embedded" (offline, 1990-2022), "yahoo" or "csv" (with data_dir); start/end ISO dates
    (None: where every playbook input exists); window "full" or an event kind (triple-witching, ...)
    for windows-only runs; model the regime classifier; cash_rate the annual T-bill stand-in where no
    rate is published; atr_sessions/atr_windows the ATR look-backs ATR stops and take-profits read;
    vol_sessions the realised-vol look-back of vol-target sizing; universe {role: symbol}, your own
    files standing in for the playbook's roles (strategies.roles, as --map). Or pass a MarketSpec.
    """
    if spec is None:
        spec = MarketSpec(source=source, start=_day(start, "start"), end=_day(end, "end"), data_dir=data_dir,
                          cache_dir=cache_dir, window=window, before=before, after=after, regime_model=model,
                          cash_rate=cash_rate, atr_sessions=atr_sessions, atr_windows=tuple(atr_windows),
                          vol_sessions=vol_sessions, span=span, universe=tuple((universe or {}).items()))
    return _market.prepare_market(spec)


def run(strategy: str | Playbook, market: Market, *, params=None, risk: RiskConfig | None = None,
        costs: Costs | None = None, sizing: Sizing | None = None, cash: float = 1_000_000.0,
        windows_only: bool = False, seed: int = 0, contract_spec: ContractSpec | None = None,
        rebalance_band: float = 0.02, stop_cooldown: int = 5, thin_liquidity_scale: float = 0.75,
        cash_buffer: float = 0.01) -> RunResult:
    """Run one playbook over `market`: a built-in's name ("momentum", "neutral", "defensive",
    "playbook", "benchmark") with optional `params` (its parameter dataclass), or a Playbook instance.

    risk replaces the playbook's default risk rules; costs and sizing replace theirs within it.
    windows_only holds positions only inside the market's evaluation windows (a market prepared with
    window=...). The other settings are backtests.runner.RunSettings'.
    """
    base = risk if risk is not None else (
        strategy.default_risk if isinstance(strategy, Playbook) else _registry_risk(strategy))
    if costs is not None:
        base = dataclasses.replace(base, costs=costs)
    if sizing is not None:
        base = dataclasses.replace(base, sizing=sizing)
    settings = RunSettings(strategy=strategy, params=params, risk=base, cash=cash,
                           contract_spec=contract_spec or ContractSpec(), rebalance_band=rebalance_band,
                           stop_cooldown=stop_cooldown, thin_liquidity_scale=thin_liquidity_scale,
                           cash_buffer=cash_buffer, windows_only=windows_only, seed=seed)
    check_params(strategy, params)  # a parameter naming a symbol the run does not trade
    check_market(strategy, market)  # a symbol the playbook needs and the market lacks, by name
    if windows_only:
        if not market.windows:
            raise RunError("a windows-only run needs a market prepared with window=<event kind>")
        if not market.stepped:
            market = window_market(market)
    return run_backtest(settings, market)


def _registry_risk(name) -> RiskConfig:
    from strategies.registry import get_strategy

    return get_strategy(name).default_risk if isinstance(name, str) else RiskConfig()


def compare(runs, market: Market | None = None, **options) -> pd.DataFrame:
    """The metrics table (the one `cli.py compare` prints; rows are figures, columns the runs and
    the benchmark) of `runs`: RunResults, or names / Playbook instances run on `market` with
    `options` (those of `run`)."""
    results = []
    for item in runs:
        if isinstance(item, RunResult):
            results.append(item)
        elif market is None:
            raise RunError(f"compare: {item} is not a result; give the market to run it on")
        else:
            results.append(run(item, market, **options))
    if not results:
        raise RunError("compare: no runs given")
    return metrics_table(results)


def tune(strategy: str | Playbook, stop: str, *, take_profit: str | None = None, **request):
    """Tune a playbook's stop (and take-profit) over windows-only runs and judge it walk-forward, as
    `cli.py tune` does; the ranges are the command line's (`trailing:2%..10%:1%`), the other keyword
    arguments backtests.tuning.TuneRequest's (window, start, end, objective, sampler, trials, jobs,
    out, ...). A Playbook instance works with jobs > 1: the worker processes are forked and inherit
    it. Returns the TuneOutcome (backtests.tuning_report.write_reports writes its files)."""
    from backtests.tuning import TuneRequest
    from backtests.tuning import tune as _tune

    for key in ("start", "end"):
        if key in request:
            request[key] = _day(request[key], key)
    return _tune(TuneRequest(strategy=strategy, stop=stop, take_profit=take_profit, **request))
