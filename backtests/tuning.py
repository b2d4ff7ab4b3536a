"""Tuning a strategy's stop (and take-profit) with Optuna, judged out of sample by walk-forward.

What a trial is: one windows-only backtest over EVERY window of the span, with the stop (and the
take-profit) replaced in the strategy's default risk rules, built by the same code as
``cli.py backtest --stop ...`` (`backtests.jobs.run_settings`), so a trial and a plain backtest
with its parameters are the same run: the trial's backtest runs on the trial engine
(backtests.trial_engine, the returns alone), whose returns equal backtrader's to the bit, checked on
the study's first cell before any trial (`check_engine`). The trial stores its per-window
returns (window convention: `backtests.windows_eval`) as the user attribute ``window_returns``; its
Optuna value is the objective over all windows. Everything reported afterwards (leaderboard,
walk-forward, overfitting figures) is recomputed from those stored returns, so a resumed or
distributed study reports the same way as one run in one go.

Walk-forward without re-running anything: for each test year Y, the rule chosen is the trial with
the best objective over the windows whose event lies before Y (an expanding training span, at least
`min_train_years` years, purged of any window whose measured span reaches Y's first window), and
it is scored on year Y's windows alone. Every trial's returns in year Y come from a run that could
not see anything after them (the runner is causal) and the choice for Y reads no window of Y or
later, so no fold is scored on data it was tuned on. With the TPE sampler the *candidates* were
proposed by a search that saw every window, so only grid and random searches are strictly out of
sample; the summary says so.

Persistence: the study lives in an Optuna storage (default: ``study.db``, SQLite, in the output
directory). Re-running the same command resumes it: finished trials are kept and skipped, a trial
cut short by Ctrl-C (FAIL) or by a dead worker (RUNNING, its process gone) has its grid cell queued
again. ``--storage postgresql://...`` lets workers on many machines share one study; ``--jobs N``
starts N worker processes here, each running ``study.optimize`` against the same storage.

Why SQLite (not Optuna's JournalStorage) for the local default: the issue asks for one file that
any Optuna tool opens (optuna-dashboard, ``optuna.load_study``), and the same RDB code path then
serves SQLite and PostgreSQL alike. A trial writes a handful of small rows around its backtest; the
file is kept in SQLite's write-ahead-log mode (readers never wait for a writer, a commit costs no
fsync: `_sqlite_write_ahead`), so a few local workers contend for the write lock for milliseconds;
a 60-second busy timeout absorbs that.

Duplicate-free grids: Optuna's GridSampler gives trial number k the k-th cell of its (seeded,
shuffled) grid, so workers that start together never share a cell; near the end of a grid it may
hand a still-running cell to a second worker, and such a trial (the higher-numbered of two holding
one cell) is pruned before it runs. A worker stops once every cell is finished or running (a queued
cell is taken before any new one).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import hashlib
import importlib.util
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import signal
import socket
import sqlite3
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import sqlalchemy.event
import sqlalchemy.exc
from optuna.trial import TrialState
from tqdm import tqdm

from backtests import jobs
from backtests.errors import RunError
from backtests.files import check_out_dir
from backtests.market import Market, prepare_market, window_market
from backtests.overfitting import PBOResult, deflated_sharpe_of, pbo_cscv
from backtests.runner import run_backtest
from backtests.symbols import check_market, preflight_csv
from backtests.trial_engine import ENGINES, trial_returns
from backtests.tuning_terms import DEFAULT_MIN_TRAIN_YEARS, OBJECTIVES, SAMPLERS
from backtests.windows_eval import measured_span, window_returns
from data.errors import DataError
from data.windows import WINDOW_KINDS
from strategies.errors import ConfigError
from strategies.playbook import Playbook
from strategies.registry import get_strategy
from strategies.risk import StopRule, TakeProfit
from strategies.rulespec import parse_range

STUDY_FORMAT = 1  # bumped when what a study stores changes, so an old study is refused, not misread
STOP_PARAM = "stop_level"
TAKE_PROFIT_PARAM = "take_profit_level"
STUDY_FILE = "study.db"
REPORT_JSON = "tuning.json"  # tuning_report.TUNING_JSON: the report names its study
SQLITE_BUSY_SECONDS = 60  # a worker waits this long for SQLite's write lock before giving up
OPEN_ATTEMPTS = 5  # workers that create one PostgreSQL study at once may race on its tables
SIGINT_GRACE_SECONDS = 5.0  # how long interrupted workers get to record their trial before being told
PROGRESS_READ_SECONDS = 5.0  # how often a bar on screen over --jobs workers reads the study (other machines)
# A RUNNING trial is taken as abandoned (its worker died) when its worker process is gone (same
# machine), or when it has run this many times the median trial time, and at least STALE_MIN_SECONDS.
STALE_FACTOR = 50
CELL_WAIT_SECONDS = 2.0  # how long a grid trial waits for a lower-numbered trial's cell to be stored
CELL_WAIT_STEP_SECONDS = 0.005
STALE_MIN_SECONDS = 600.0
# A ratio's denominator this small is rounding noise from a constant series (as in backtests.metrics).
_ZERO_SPREAD = 1e-12
_LIVE = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)  # a cell held: not to queue again
_STARTED = (TrialState.COMPLETE, TrialState.RUNNING)  # a cell no worker needs to start
USER_ERRORS = (RunError, ConfigError, DataError)


# --- objectives ---------------------------------------------------------------------------------


def score(objective: str, returns) -> float | np.ndarray:
    """The objective over a sequence of window returns (rows in time order); an array of more
    dimensions is reduced along its first axis, scoring each column (one per trial). A ratio whose
    denominator is zero, an empty sequence or a missing window gives NaN, which ranks below every
    number.

    >>> r = np.array([0.02, -0.01, 0.03, 0.0])
    >>> round(score("mean-window-return", r), 6), score("hit-rate", r)
    (0.01, 0.5)
    >>> round(score("sharpe", r), 6)             # 0.01 / std([.02, -.01, .03, 0], ddof=1)
    0.547723
    >>> round(score("sortino", r), 6)            # 0.01 / sqrt(0.01 ** 2 / 4)
    2.0
    >>> round(score("calmar", r), 6)             # (1.02 * .99 * 1.03 * 1) ** (1/4) - 1 over 1%
    0.987622
    """
    if objective not in OBJECTIVES:
        raise RunError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
    r = np.asarray(returns, dtype=float)
    if r.shape[0] == 0:
        empty = np.full(r.shape[1:], np.nan)
        return float(empty) if r.ndim == 1 else empty
    n = r.shape[0]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if objective == "mean-window-return":
            value = r.mean(axis=0)
        elif objective == "hit-rate":
            value = (r > 0).mean(axis=0)
        elif objective == "sharpe":
            spread = r.std(axis=0, ddof=1) if n > 1 else np.zeros(r.shape[1:])
            value = _ratio(r.mean(axis=0), spread)
        elif objective == "sortino":
            value = _ratio(r.mean(axis=0), np.sqrt((np.minimum(r, 0.0) ** 2).mean(axis=0)))
        else:
            wealth = np.cumprod(1.0 + r, axis=0)
            peak = np.maximum(np.maximum.accumulate(wealth, axis=0), 1.0)  # equity starts at 1.0
            deepest = (wealth / peak - 1.0).min(axis=0)
            growth = np.where(wealth[-1] > 0, np.abs(wealth[-1]) ** (1.0 / n) - 1.0, np.nan)
            value = _ratio(growth, -deepest)
    value = np.where(np.isnan(r).any(axis=0), np.nan, value)  # a missing window spoils the score
    return float(value) if r.ndim == 1 else value


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    safe = np.where(bottom > _ZERO_SPREAD, bottom, 1.0)
    return np.where(bottom > _ZERO_SPREAD, top / safe, np.nan)


def best_index(scores) -> int:
    """Position of the best score; NaN ranks last, ties go to the first (the lowest trial number).

    >>> best_index([0.1, np.nan, 0.3, 0.3])
    2
    """
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        raise RunError("no trials to choose from")
    return int(np.argmax(np.where(np.isnan(values), -np.inf, values)))


# --- the search space ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchSpace:
    """The tuned rules: a stop kind with its grid of levels, and optionally a take-profit grid.

    Levels are the exact values of `strategies.rulespec.parse_range`, so a level prints back as the
    text a user types (``trailing:3%``) and a plain backtest with that text is the same run.
    """

    stop_kind: str
    stop_levels: tuple[float, ...]
    take_profit_kind: str | None = None
    take_profit_levels: tuple[float, ...] = ()

    @classmethod
    def parse(cls, stop: str, take_profit: str | None = None) -> SearchSpace:
        """From the range texts, e.g. 'trailing:2%..10%:1%' and '4%..16%:2%'.

        >>> space = SearchSpace.parse("trailing:2%..4%:1%", "8%..16%:8%")
        >>> space.size, space.rule_text({"stop_level": 0.03, "take_profit_level": 0.16})
        (6, 'trailing:3% take-profit:16%')
        """
        stop_kind, stop_levels = parse_range(stop, rule="stop")
        if take_profit is None:
            return cls(stop_kind, tuple(stop_levels))
        take_profit_kind, take_profit_levels = parse_range(take_profit, rule="take-profit")
        return cls(stop_kind, tuple(stop_levels), take_profit_kind, tuple(take_profit_levels))

    @property
    def names(self) -> tuple[str, ...]:
        return (STOP_PARAM,) if self.take_profit_kind is None else (STOP_PARAM, TAKE_PROFIT_PARAM)

    @property
    def size(self) -> int:
        return len(self.stop_levels) * max(len(self.take_profit_levels), 1)

    def grid(self) -> dict[str, list[float]]:
        grid = {STOP_PARAM: list(self.stop_levels)}
        if self.take_profit_kind is not None:
            grid[TAKE_PROFIT_PARAM] = list(self.take_profit_levels)
        return grid

    def suggest(self, trial: optuna.Trial) -> dict[str, float]:
        """Ask the trial for each level, snapped to the exact grid value (TPE and random samplers
        draw from a stepped float range whose points carry rounding noise, 0.06999999999999999)."""
        params = {}
        for name, levels in self.grid().items():
            raw = trial.suggest_float(name, levels[0], levels[-1], step=_step(levels))
            params[name] = min(levels, key=lambda level: abs(level - raw))
        return params

    def stop_rule(self, params: dict) -> StopRule:
        return StopRule(self.stop_kind, params[STOP_PARAM])

    def take_profit_rule(self, params: dict) -> TakeProfit | None:
        if self.take_profit_kind is None:
            return None
        return TakeProfit(self.take_profit_kind, params[TAKE_PROFIT_PARAM])

    def rule_settings(self, params: dict) -> dict:
        """The params as `cli.py backtest` settings: {"stop": "trailing:3%", "take_profit": "8%"}."""
        settings = {"stop": self.stop_rule(params).spec()}
        take_profit = self.take_profit_rule(params)
        if take_profit is not None:
            settings["take_profit"] = take_profit.spec()
        return settings

    def rules(self, params: dict) -> dict:
        """The params as the RiskConfig fields a trial replaces: {"stops": (StopRule,),
        "take_profit": TakeProfit} (take_profit only when it is tuned)."""
        rules = {"stops": (self.stop_rule(params),)}
        take_profit = self.take_profit_rule(params)
        if take_profit is not None:
            rules["take_profit"] = take_profit
        return rules

    def rule_text(self, params: dict) -> str:
        settings = self.rule_settings(params)
        text = settings["stop"]
        return text + (f" take-profit:{settings['take_profit']}" if "take_profit" in settings else "")

    def cell(self, params: dict) -> tuple[float, ...]:
        return tuple(float(params[name]) for name in self.names)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _step(levels) -> float | None:
    """The grid step for Optuna's stepped float range (None for a single level)."""
    if len(levels) < 2:
        return None
    return float(round(levels[1] - levels[0], 12))


# --- what to tune -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuneRequest:
    """Everything `cli.py tune` was asked. Ranges are text (strategies.rulespec range grammar)."""

    strategy: str | Playbook  # a built-in's name or a Playbook instance (forked workers inherit it)
    stop: str
    take_profit: str | None = None
    objective: str = "sharpe"
    window: str = "triple-witching"
    before: int = 5
    after: int = 5
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    source: str = "embedded"
    data_dir: str | None = None
    cache_dir: str | None = None
    sampler: str = "grid"
    trials: int | None = None
    jobs: int = 1
    storage: str | None = None
    study: str | None = None
    out: str | None = None
    min_train_years: int = DEFAULT_MIN_TRAIN_YEARS
    seed: int | None = None
    progress: bool | None = None  # None: a bar only when stderr is a terminal
    cash_rate: float | None = None  # annual fraction where no T-bill rate is published (--cash-rate)
    universe: tuple = ()  # (role, symbol) pairs: files standing in for the playbook's roles (--map)
    engine: str = "trial"  # trial: the trial engine, checked against backtrader first; backtrader: always it

    def __post_init__(self):
        if not isinstance(self.strategy, Playbook):
            get_strategy(self.strategy)
        if self.strategy == "benchmark":
            raise RunError("strategy 'benchmark' holds the index with no stops; tune a playbook strategy")
        if self.objective not in OBJECTIVES:
            raise RunError(f"unknown objective {self.objective!r}; choose from {', '.join(OBJECTIVES)}")
        if self.window not in WINDOW_KINDS:
            raise RunError(f"tuning judges trials window by window: --window must be one of "
                           f"{', '.join(WINDOW_KINDS)}, not {self.window!r}")
        if self.sampler not in SAMPLERS:
            raise RunError(f"unknown sampler {self.sampler!r}; choose from {', '.join(SAMPLERS)}")
        if self.sampler == "grid" and self.trials is not None:
            raise RunError("the grid sampler runs every cell of the ranges; drop --trials, or use "
                           "--sampler tpe or random with --trials N")
        if self.sampler != "grid" and (self.trials is None or self.trials < 1):
            raise RunError(f"--sampler {self.sampler} needs --trials N (the study's total number of trials)")
        if self.jobs < 1:
            raise RunError(f"--jobs must be 1 or more, got {self.jobs}")
        if self.engine not in ENGINES:
            raise RunError(f"unknown engine {self.engine!r}; choose from {', '.join(ENGINES)}")
        if self.min_train_years < 1:
            raise RunError(f"--min-train-years must be 1 or more, got {self.min_train_years}")


def base_settings(request: TuneRequest) -> dict:
    """The `cli.py backtest` settings shared by every trial (data, window, strategy)."""
    return {
        "strategy": request.strategy,
        "source": request.source,
        "data_dir": request.data_dir,
        "cache_dir": request.cache_dir,
        "start": None if request.start is None else f"{pd.Timestamp(request.start):%Y-%m-%d}",
        "end": None if request.end is None else f"{pd.Timestamp(request.end):%Y-%m-%d}",
        "window": request.window,
        "before": request.before,
        "after": request.after,
    } | ({} if request.cash_rate is None else {"cash_rate": request.cash_rate}) \
      | ({"universe": dict(request.universe)} if request.universe else {})


def window_records(windows, sessions: pd.DatetimeIndex) -> list[list[str]]:
    """[event, first, end] per window (ISO dates), `end` being the last session of its measured span
    (the session after the window's last; windows_eval), which the walk-forward purge reads."""
    records = []
    for w in windows:
        start, stop = measured_span(w, sessions)
        end = sessions[stop - 1] if stop > start else w.last
        records.append([f"{w.event:%Y-%m-%d}", f"{w.first:%Y-%m-%d}", f"{end:%Y-%m-%d}"])
    return records


def study_definition(request: TuneRequest, space: SearchSpace, market: Market) -> dict:
    """What makes two runs the same study: the same trials on the same data scored the same way.
    Stored in the study (as JSON: tuples become lists); a run that differs is refused rather than
    mixed in."""
    return _json_ready({
        "format": STUDY_FORMAT,
        "strategy": str(request.strategy),
        **({"playbook": f"{type(request.strategy).__module__}.{type(request.strategy).__qualname__}"}
           if isinstance(request.strategy, Playbook) else {}),
        "objective": request.objective,
        "sampler": request.sampler,
        "window": request.window,
        "before": request.before,
        "after": request.after,
        "source": request.source,
        "start": base_settings(request)["start"],
        "end": base_settings(request)["end"],
        "space": space.to_dict(),
        "data_hash": market.data_hash,
        "first_session": f"{market.sessions[0]:%Y-%m-%d}",
        "last_session": f"{market.sessions[-1]:%Y-%m-%d}",
    })


def _json_ready(value):
    return json.loads(json.dumps(value))


def default_study_name(definition: dict) -> str:
    """strategy-window-objective-<8 hex of the definition>: the same command finds its study again,
    a changed range or span starts a new one.

    >>> default_study_name({"strategy": "neutral", "window": "year-end", "objective": "sharpe"})
    'neutral-year-end-sharpe-df8db70a'
    """
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:8]
    return f"{definition['strategy']}-{definition['window']}-{definition['objective']}-{digest}"


# --- the storage --------------------------------------------------------------------------------


def sqlite_url(path: str | os.PathLike) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def shown_url(url: str) -> str:
    """The storage URL with any password masked, for messages and files."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def with_driver(url: str) -> str:
    """The URL with an installed PostgreSQL driver named: SQLAlchemy 2.1 reads a bare postgresql://
    as psycopg (version 3), while this project installs psycopg2-binary; postgres:// is PostgreSQL
    too. Other URLs are returned as they are.

    >>> with_driver("sqlite:////tmp/study.db")
    'sqlite:////tmp/study.db'
    """
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        return url  # open_storage says what is wrong with it
    if parsed.drivername not in ("postgresql", "postgres"):
        return url
    driver = "postgresql"
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        driver = "postgresql+psycopg2"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage for `url`, retried briefly: workers that start together against a fresh
    PostgreSQL database race to create Optuna's tables, and the loser only has to look again."""
    kwargs = {"engine_kwargs": {"connect_args": {"timeout": SQLITE_BUSY_SECONDS}}} if url.startswith(
        "sqlite") else {"engine_kwargs": {"pool_pre_ping": True}}
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            storage = optuna.storages.RDBStorage(with_driver(url), **kwargs)
            if url.startswith("sqlite"):
                sqlalchemy.event.listen(storage.engine, "connect", _sqlite_write_ahead)
                storage.engine.dispose()  # the connections Optuna opened to make its tables go
            return storage
        except (sqlalchemy.exc.ArgumentError, ImportError) as exc:
            raise RunError(f"--storage {shown_url(url)} is not a database URL Optuna can open "
                           f"({exc})") from None
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
            if attempt == OPEN_ATTEMPTS:
                raise RunError(f"cannot open the study storage {shown_url(url)}: "
                               f"{str(exc).splitlines()[0]}") from None
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def _sqlite_write_ahead(connection, _record) -> None:
    """SQLite in write-ahead-log mode with commits synced at checkpoints: a worker reading the
    study no longer waits for another's write, and a commit costs no fsync. A commit still survives
    the death of its process (Ctrl-C, a killed worker), which is what resuming relies on; a power
    cut may lose the last few trials (run again on resume), never the file. The mode is kept in
    the file, which every SQLite tool opens as before; -wal and -shm files sit beside it while it
    is open. Measured: benchmarks/bench_tune_overhead.py (docs/tuning.md, Speed)."""
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.OperationalError:
        pass  # a file that cannot change mode (read-only, say) is read in the mode it has
    finally:
        cursor.close()


def open_study(storage: optuna.storages.RDBStorage, name: str, sampler=None,
               create: bool = False) -> optuna.Study:
    """Load (or with create=True, create if missing) the study `name` in `storage`."""
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            if create:
                return optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                           sampler=sampler, load_if_exists=True)
            return optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        except KeyError:
            raise RunError(f"no study {name!r} in {shown_url(storage.url)}") from None
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError,
                optuna.exceptions.DuplicatedStudyError) as exc:
            if attempt == OPEN_ATTEMPTS:
                raise RunError(f"cannot open study {name!r} in {shown_url(storage.url)}: "
                               f"{str(exc).splitlines()[0]}") from None
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def _plain(storage: optuna.storages.RDBStorage, name: str) -> optuna.Study:
    """The study with a sampler that does nothing on tell: for reading, and for failing and queueing
    trials outside `optimize` (the GridSampler may try to stop an optimisation that is not running)."""
    return open_study(storage, name, sampler=optuna.samplers.RandomSampler())


def check_definition(study: optuna.Study, definition: dict, url: str) -> None:
    """Record the definition in a new study; refuse to add trials to a study defined otherwise."""
    stored = study.user_attrs.get("definition")
    if stored is None:
        study.set_user_attr("definition", definition)
        return
    differ = [key for key in sorted(set(stored) | set(definition)) if stored.get(key) != definition.get(key)]
    if differ:
        key = differ[0]
        raise RunError(
            f"study {study.study_name!r} in {shown_url(url)} was made with {key} = {stored.get(key)!r}, "
            f"not {definition.get(key)!r}; give a new --study name (or --out) for a new search"
        )


# --- one trial ----------------------------------------------------------------------------------


@dataclass
class TrialContext:
    """What every trial of a study reads; prepared once and shared by all trials and worker
    processes (inherited by fork, or pickled for spawn)."""

    url: str
    study_name: str
    space: SearchSpace
    settings: dict
    market: Market  # stepped: window sessions only (backtests.market.window_market)
    objective: str
    sampler: str
    target: int  # grid: the number of cells; tpe/random: the study's total trials
    seed: int | None = None
    engine: str = "trial"  # what runs each trial's backtest (check_engine chose it)


def default_rule_text(strategy: str) -> str:
    """The default stop and take-profit in a few words.

    >>> default_rule_text("neutral"), default_rule_text("momentum")
    ('no stop, no take-profit', 'trailing:5% take-profit:8%')
    """
    risk = strategy.default_risk if isinstance(strategy, Playbook) else get_strategy(strategy).default_risk
    stops = " + ".join(stop.spec() for stop in risk.stops)
    if risk.take_profit is None:
        return f"{stops}, no take-profit" if stops else "no stop, no take-profit"
    return f"{stops or 'no stop'} take-profit:{risk.take_profit.spec()}"


def evaluate_rule(market: Market, settings: dict, rule: dict | None = None,
                  engine: str = "trial") -> np.ndarray:
    """Per-window returns of the strategy run with `rule` (SearchSpace.rules: the typed stops and
    take-profit in place of the default ones) over the stepped market; None runs the strategy's
    default rules. `engine` "trial" runs backtests.trial_engine (the returns alone), "backtrader"
    the full run (backtests.runner); the two give the same returns to the bit (`check_engine`)."""
    return _rule_returns(market, settings, rule, engine)


def _rule_returns(market: Market, settings: dict, rule: dict | None, engine: str) -> np.ndarray:
    run = jobs.run_settings(settings)
    if rule:
        run = dataclasses.replace(run, risk=dataclasses.replace(run.risk, **rule))
    if engine == "trial":
        returns = trial_returns(run, market)
    elif engine == "backtrader":
        returns = run_backtest(run, market).returns
    else:
        raise RunError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    return window_returns(returns, market.windows).to_numpy(float)


@dataclass(frozen=True)
class EngineCheck:
    """Which engine a study's trials run on, and the evidence: the study's first cell run through
    both engines before any trial, compared bit for bit (`identical`; None: not checked, the user
    asked for backtrader)."""

    engine: str
    rule: str
    identical: bool | None

    def text(self) -> str:
        if self.identical is None:
            return "engine: every trial runs on backtrader (--engine backtrader)"
        if self.identical:
            return (f"engine: trials run on the trial engine; its window returns for {self.rule} equal "
                    f"backtrader's to the bit")
        return (f"warning: the trial engine's window returns for {self.rule} differ from backtrader's; "
                f"every trial runs on backtrader (slower, the same results as cli.py backtest)")

    def to_dict(self) -> dict:
        return {"trials": self.engine, "checked_rule": self.rule, "identical_to_backtrader": self.identical}


def check_engine(market: Market, settings: dict, space: SearchSpace) -> EngineCheck:
    """Run the first cell of the grid (its tightest stop and take-profit: the most exits) through
    the trial engine and backtrader. The trial engine runs the study's trials only when the two
    agree to the last bit; a playbook that reaches a case it renders differently is run on
    backtrader, and the report says so."""
    pending = PendingEngineCheck(market, settings, space)
    try:
        return pending.result()
    finally:
        pending.close()


def _first_cell(space: SearchSpace) -> dict:
    params = {STOP_PARAM: space.stop_levels[0]}
    if space.take_profit_kind is not None:
        params[TAKE_PROFIT_PARAM] = space.take_profit_levels[0]
    return params


class PendingEngineCheck:
    """`check_engine`, its slow half (the backtrader run) started in a forked process so that the
    study's storage is opened meanwhile (both take ~0.4 s; a platform without fork runs it here,
    in `result`). `close` ends the process if the result was never asked for."""

    def __init__(self, market: Market, settings: dict, space: SearchSpace):
        self.market, self.settings = market, settings
        self.params = _first_cell(space)
        self.rule_text = space.rule_text(self.params)
        self.rule = space.rules(self.params)
        self._process = self._reader = None
        if "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self._reader, writer = context.Pipe(duplex=False)
            self._process = context.Process(target=_send_reference,
                                            args=(writer, market, settings, self.rule), daemon=True,
                                            name="tune-engine-check")
            self._process.start()
            writer.close()

    def result(self) -> EngineCheck:
        try:
            fast = _rule_returns(self.market, self.settings, self.rule, "trial")
        except ConfigError:  # a case the trial engine does not run (different sessions per feed)
            fast = None
        if self._process is None:
            reference = _rule_returns(self.market, self.settings, self.rule, "backtrader")
        else:
            try:
                outcome, reference = self._reader.recv()
            except EOFError:
                outcome, reference = "error", "the process ended without a result"
            if outcome != "ok":
                raise RunError(f"the engine check's backtrader run of {self.rule_text} failed: {reference}")
        identical = fast is not None and fast.shape == reference.shape and bool(
            np.array_equal(fast.view(np.int64), reference.view(np.int64)))
        return EngineCheck("trial" if identical else "backtrader", self.rule_text, identical)

    def close(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._reader.close()
            self._process = None


def _send_reference(writer, market: Market, settings: dict, rule: dict) -> None:
    try:
        writer.send(("ok", _rule_returns(market, settings, rule, "backtrader")))
    except BaseException as exc:  # the parent says what failed; nothing is left half-done here
        writer.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        writer.close()


def worker_name() -> str:
    """host/boot:pid of this process: enough to tell, on the same machine, whether it still lives."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        boot = "-"
    return f"{socket.gethostname()}/{boot}:{os.getpid()}"


def grid_holder(trial: optuna.Trial) -> int | None:
    """The number of a lower-numbered trial that is finished, running or queued on `trial`'s grid
    cell, None when there is none: of two trials handed one cell, the first runs it.

    Optuna writes a new trial first and its cell (grid_id) a moment later, so a lower-numbered trial
    may be running with its cell not yet known; the check waits for it (CELL_WAIT_SECONDS at most:
    longer, its worker died in between, and housekeeping fails it). Without the wait, two workers
    could each find no holder and run one cell twice.

    One indexed query in an RDB storage (reading every trial for it made the check grow with the
    study); any other storage is scanned."""
    storage = trial.study._storage
    backend = getattr(storage, "_backend", storage)  # optuna wraps an RDBStorage in a cache
    deadline = time.monotonic() + CELL_WAIT_SECONDS
    while True:
        if isinstance(backend, optuna.storages.RDBStorage):
            keys = {"trial_id": trial._trial_id, "study_id": trial.study._study_id, "number": trial.number}
            with backend.engine.connect() as connection:
                holder = connection.execute(_grid_holder_query(), keys).scalar()
                unknown = holder is None and connection.execute(_cell_unknown_query(), keys).scalar()
        else:
            trials = trial.study.get_trials(deepcopy=False)
            grid_id = next(t for t in trials if t.number == trial.number).system_attrs.get("grid_id")
            lower = [t for t in trials if t.number < trial.number]
            holder = next((t.number for t in lower if t.state in _LIVE
                           and t.system_attrs.get("grid_id") == grid_id), None)
            unknown = any(_cell_unknown(t) for t in lower)
        if holder is not None or not unknown or time.monotonic() > deadline:
            return holder
        time.sleep(CELL_WAIT_STEP_SECONDS)


def _cell_unknown(trial) -> bool:
    """A running trial whose cell Optuna has not stored yet (it writes the trial, then its cell)."""
    return trial.state == TrialState.RUNNING and "grid_id" not in trial.system_attrs


@functools.cache
def _cell_unknown_query():
    """How many of the study's trials numbered below `number` are running with no grid_id yet."""
    from optuna.storages._rdb import models

    trials = models.TrialModel.__table__
    attributes = models.TrialSystemAttributeModel.__table__
    has_cell = (sqlalchemy.select(attributes.c.trial_id)
                .where(attributes.c.trial_id == trials.c.trial_id, attributes.c.key == "grid_id").exists())
    return (sqlalchemy.select(sqlalchemy.func.count()).select_from(trials)
            .where(trials.c.study_id == sqlalchemy.bindparam("study_id"),
                   trials.c.number < sqlalchemy.bindparam("number"),
                   trials.c.state == TrialState.RUNNING, ~has_cell))


@functools.cache
def _grid_holder_query():
    """grid_holder's query, built once (SQLAlchemy then reuses its compiled form): the trials of the
    study numbered below `number`, live, whose grid_id attribute equals trial `trial_id`'s."""
    from optuna.storages._rdb import models  # Optuna's schema (versioned and migrated by Optuna)

    trials = models.TrialModel.__table__
    attributes = models.TrialSystemAttributeModel.__table__
    own, other = attributes.alias("own"), attributes.alias("other")
    return (sqlalchemy.select(trials.c.number)
            .select_from(trials.join(other, other.c.trial_id == trials.c.trial_id)
                         .join(own, own.c.value_json == other.c.value_json))
            .where(own.c.trial_id == sqlalchemy.bindparam("trial_id"), own.c.key == "grid_id",
                   other.c.key == "grid_id", trials.c.study_id == sqlalchemy.bindparam("study_id"),
                   trials.c.number < sqlalchemy.bindparam("number"), trials.c.state.in_(_LIVE))
            .order_by(trials.c.number).limit(1))


def _objective(trial: optuna.Trial, context: TrialContext) -> float:
    params = context.space.suggest(trial)
    trial.set_user_attr("worker", worker_name())
    if context.sampler == "grid":
        holder = grid_holder(trial)
        if holder is not None:
            raise optuna.TrialPruned(f"cell taken by trial {holder}")
        returns = evaluate_rule(context.market, context.settings, context.space.rules(params),
                                context.engine)
    else:
        trials = trial.study.get_trials(deepcopy=False)
        cell = context.space.cell(params)
        same = next((t for t in trials if t.state == TrialState.COMPLETE and "window_returns" in t.user_attrs
                     and context.space.cell(t.params) == cell), None)
        if same is not None:
            # TPE and random samplers revisit levels of a discrete grid; the run is deterministic
            trial.set_user_attr("same_as", same.number)
            returns = np.asarray(same.user_attrs["window_returns"], dtype=float)
        else:
            returns = evaluate_rule(context.market, context.settings, context.space.rules(params),
                                    context.engine)
    trial.set_user_attr("window_returns", [float(x) for x in returns])
    value = score(context.objective, returns)
    # an undefined ratio (no spread, no drawdown) ranks last; Optuna refuses NaN as a value
    return value if math.isfinite(value) else -math.inf


# --- keeping the study whole --------------------------------------------------------------------


def _abandoned(trial, now: float, stale_seconds: float, here: str) -> bool:
    """A RUNNING trial whose worker died: its process is gone (same machine), or it has been running
    far longer than any trial takes."""
    worker = trial.user_attrs.get("worker")
    if isinstance(worker, str) and ":" in worker:
        machine, _, pid = worker.rpartition(":")
        if machine == here.rpartition(":")[0] and pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass
    started = trial.datetime_start.timestamp() if trial.datetime_start else now
    return now - started > stale_seconds


def housekeep(study: optuna.Study, context: TrialContext) -> list:
    """Fail abandoned RUNNING trials, and queue again every grid cell whose only trials failed (Ctrl-C
    marks the trial it cut short FAIL, and Optuna's GridSampler counts a failed cell as visited).
    `study` must carry a sampler without side effects on tell (not the GridSampler, which may try to
    stop an optimisation that is not running). Returns the trials as read afterwards."""
    trials = study.get_trials(deepcopy=False)
    changed = False
    others = [t for t in trials if t.state == TrialState.RUNNING]
    if others:  # the typical trial time, only when there is a running trial to judge by it
        durations = [t.duration.total_seconds() for t in trials
                     if t.state == TrialState.COMPLETE and t.duration is not None]
        stale_seconds = max(STALE_MIN_SECONDS,
                            STALE_FACTOR * float(np.median(durations)) if durations else 0.0)
        now, here = time.time(), worker_name()
        for trial in others:
            if _abandoned(trial, now, stale_seconds, here):
                study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
                changed = True
    if context.sampler == "grid":
        if changed:
            trials = study.get_trials(deepcopy=False)
        covered = {t.system_attrs.get("grid_id") for t in trials if t.state in _LIVE}
        failed = {}
        for t in trials:
            grid_id = t.system_attrs.get("grid_id")
            if t.state == TrialState.FAIL and grid_id is not None and grid_id not in covered:
                failed.setdefault(grid_id, t)
        for grid_id, t in sorted(failed.items()):
            study.add_trial(optuna.trial.create_trial(
                state=TrialState.WAITING,
                system_attrs={"grid_id": grid_id, "search_space": t.system_attrs["search_space"],
                              "retry_of": t.number},
            ))
            changed = True
    return study.get_trials(deepcopy=False) if changed else trials


def remaining(trials, context: TrialContext) -> int:
    """Trials still to start: grid cells with no finished or running trial, or (tpe, random) the
    target less the trials finished or running. A queued trial is still to start: counting it as
    covered once left a study whose last cell was cut short with that cell queued and never run."""
    if context.sampler == "grid":
        covered = {t.system_attrs.get("grid_id") for t in trials if t.state in _STARTED}
        # a trial just started, its cell not stored yet, takes one of the cells not covered
        starting = sum(_cell_unknown(t) for t in trials)
        return context.target - len(covered & set(range(context.target))) - starting
    return context.target - sum(t.state in _STARTED for t in trials)


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler, with its search-space comparison short-cut by plain equality.

    After every trial the GridSampler compares every stored trial's grid with its own value by
    value in Python (`_same_search_space`): about 5,000 comparisons of 100 values each by the end
    of a 100-cell study, a quarter of the study's bookkeeping, and quadratic in the grid. Equal
    dicts are the same grid by Optuna's rule too; anything else (a NaN, another grid) goes to
    Optuna's own comparison, so which cells count as visited is exactly as before."""

    def _same_search_space(self, search_space) -> bool:
        return search_space == self._search_space or super()._same_search_space(search_space)

    def after_trial(self, study, trial, state, values) -> None:
        """Nothing: Optuna's GridSampler reads every trial again here to stop the optimisation once
        every cell is finished, and `work`'s callback, right after, reads them for a stricter rule
        (stop once every cell is complete or running, after queuing failed cells again), which
        covers it. One read of the study a trial instead of two."""

    def sample_independent(self, study, trial, param_name, param_distribution):
        """Optuna's, handed the trial's stored grid_id read by one query: Optuna's trial reads its
        system attributes by loading the whole trial (six queries) for this one value."""
        backend = getattr(study._storage, "_backend", study._storage)
        if isinstance(backend, optuna.storages.RDBStorage):
            with backend.engine.connect() as connection:
                stored = connection.execute(_grid_id_query(), {"trial_id": trial._trial_id}).scalar()
            if stored is not None:
                trial = copy.copy(trial)
                trial.system_attrs = {"grid_id": json.loads(stored)}
        return super().sample_independent(study, trial, param_name, param_distribution)


@functools.cache
def _grid_id_query():
    """The stored grid_id of trial `trial_id` (JSON text), as Optuna's storage keeps it."""
    from optuna.storages._rdb import models

    attributes = models.TrialSystemAttributeModel.__table__
    return (sqlalchemy.select(attributes.c.value_json)
            .where(attributes.c.trial_id == sqlalchemy.bindparam("trial_id"), attributes.c.key == "grid_id"))


def _sampler(context: TrialContext, worker: int):
    if context.sampler == "grid":
        # every worker must shuffle the grid alike: trial number k takes the k-th cell
        return _GridSampler(context.space.grid(), seed=0)
    seed = None if context.seed is None else context.seed + worker
    if context.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def work(context: TrialContext, worker: int = 0, on_trial=None,
         storage: optuna.storages.RDBStorage | None = None) -> int:
    """Run trials until the study needs no more; returns how many this worker finished.

    Each pass: fail abandoned trials and queue failed cells again, stop if nothing remains, else
    let Optuna's `study.optimize` run trials, stopping it (from a callback) once nothing remains.
    on_trial(finished_trial) is called after each trial (the progress bar of a one-process run).
    `storage`: an open storage of context.url to use (the parent's, in a one-process run).
    """
    with _using(context.url, storage) as storage:
        study = open_study(storage, context.study_name, sampler=_sampler(context, worker))
        # the same trial cache as the study's: the housekeeping after a trial reads only what
        # changed since the sampler's own read, not every unfinished trial again
        admin = open_study(study._storage, context.study_name, sampler=optuna.samplers.RandomSampler())
        finished = 0

        def after_trial(study_, trial):
            nonlocal finished
            if trial.state == TrialState.COMPLETE:
                finished += 1
                if on_trial is not None:
                    on_trial(trial)
            if remaining(housekeep(admin, context), context) <= 0:
                study_.stop()

        while remaining(housekeep(admin, context), context) > 0:
            study.optimize(lambda trial: _objective(trial, context), callbacks=[after_trial],
                           gc_after_trial=False)
        return finished


@contextlib.contextmanager
def _using(url: str, storage: optuna.storages.RDBStorage | None = None):
    """`storage` if given, else a storage opened for `url` (Optuna's checks of its tables and
    migrations cost tens of milliseconds an opening); either way its connections are closed on
    leaving, so none is carried into a forked worker. The engine opens new ones when used again."""
    storage = open_storage(url) if storage is None else storage
    try:
        yield storage
    finally:
        storage.engine.dispose()


def _worker_main(context: TrialContext, worker: int, reports) -> None:
    """Entry point of a --jobs worker process: work, telling the parent over the pipe `reports` of
    each finished trial (its progress bar) and then how it ended."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        reports.send(("done", work(context, worker, on_trial=lambda trial: reports.send(("trial", "")))))
    except KeyboardInterrupt:
        reports.send(("interrupted", ""))
    except USER_ERRORS as exc:
        reports.send(("user", str(exc)))
    except BaseException:  # a bug: the parent shows its traceback
        reports.send(("bug", traceback.format_exc()))
    finally:
        reports.close()


def _count_complete(trials) -> int:
    return sum(t.state == TrialState.COMPLETE for t in trials)


def count_complete(url: str, name: str, storage: optuna.storages.RDBStorage | None = None) -> int:
    """COMPLETE trials of the study now (its connection closed afterwards)."""
    with _using(url, storage) as storage:
        return _count_complete(_plain(storage, name).get_trials(deepcopy=False))


def _listen(pipes: list, outcomes: list, bar, context: TrialContext | None, storage=None) -> None:
    """Read the workers' pipes until each is closed: a finished trial moves the bar, the rest (how
    a worker ended) goes to `outcomes`. With `context`, the bar also takes the study's count of
    COMPLETE trials every PROGRESS_READ_SECONDS (trials of workers elsewhere)."""
    open_pipes = list(pipes)
    read_at = time.monotonic() + PROGRESS_READ_SECONDS
    while open_pipes:
        timeout = None if context is None else max(read_at - time.monotonic(), 0.0)
        for reader in multiprocessing.connection.wait(open_pipes, timeout):
            try:
                kind, detail = reader.recv()
            except EOFError:  # the worker has exited
                open_pipes.remove(reader)
                continue
            if kind == "trial":
                bar.update(1 if bar.n < bar.total else 0)
            else:
                outcomes.append((kind, detail))
        if context is not None and time.monotonic() >= read_at:
            complete = min(count_complete(context.url, context.study_name, storage), bar.total)
            bar.update(max(complete - bar.n, 0))
            read_at = time.monotonic() + PROGRESS_READ_SECONDS


def _drained(reader) -> list[tuple[str, str]]:
    """The reports still in a worker's pipe, finished-trial notes left out."""
    messages = []
    try:
        while reader.poll():
            kind, detail = reader.recv()
            if kind != "trial":
                messages.append((kind, detail))
    except (EOFError, OSError):
        pass
    return messages


def run_workers(context: TrialContext, jobs_count: int, progress: bool | None = None,
                storage: optuna.storages.RDBStorage | None = None) -> int:
    """Run the study's remaining trials in this process (jobs_count 1) or in jobs_count processes
    forked from it (the prepared market is inherited, not rebuilt), with a bar over trials on stderr
    (progress None: only when stderr is a terminal). Returns the trials finished by these workers.
    `storage`: an open storage of context.url for this process's own reads (else one is opened)."""
    total = context.target
    storage = open_storage(context.url) if storage is None else storage
    done = min(count_complete(context.url, context.study_name, storage), total)
    hidden = None if progress is None else not progress
    if jobs_count == 1:
        with tqdm(total=total, initial=done, desc="trials", unit="trial", file=sys.stderr, disable=hidden,
                  leave=False) as bar:
            return work(context, 0, on_trial=lambda trial: bar.update(1), storage=storage)
    # fork: the workers inherit the prepared market; elsewhere it is pickled to them
    # queue failed cells once here, so the workers starting together do not each queue them
    with _using(context.url, storage):
        housekeep(_plain(storage, context.study_name), context)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    mp = multiprocessing.get_context(method)
    workers, pipes = [], []
    for n in range(jobs_count):
        reader, writer = mp.Pipe(duplex=False)
        process = mp.Process(target=_worker_main, args=(context, n, writer), daemon=True,
                             name=f"tune-worker-{n}")
        process.start()
        writer.close()  # the worker holds the only write end: its exit, even a kill, ends the pipe
        workers.append(process)
        pipes.append(reader)
    outcomes: list[tuple[str, str]] = []
    interrupted = False
    with tqdm(total=total, initial=done, desc="trials", unit="trial", file=sys.stderr, disable=hidden,
              leave=False) as bar:
        try:
            # the parent sleeps until a worker reports (it does not poll the study); a bar on screen
            # also reads the study now and then, for the trials of workers on other machines
            _listen(pipes, outcomes, bar, None if bar.disable else context, storage)
        except KeyboardInterrupt:
            interrupted = True
            # Ctrl-C reaches the whole process group: each worker marks the trial it cuts short FAIL
            # (queued again on resume). A second SIGINT while it does so could leave the trial
            # RUNNING, so only workers still alive after a grace period (the parent alone was
            # interrupted) are sent one.
            deadline = time.monotonic() + SIGINT_GRACE_SECONDS
            for process in workers:
                process.join(max(deadline - time.monotonic(), 0.0))
            for process in workers:
                if process.is_alive():
                    os.kill(process.pid, signal.SIGINT)
            for process in workers:
                process.join(30)
    for process in workers:
        process.join()
    for reader in pipes:  # what the workers said after an interrupt
        outcomes.extend(_drained(reader))
        reader.close()
    if interrupted or any(kind == "interrupted" for kind, _ in outcomes):
        raise KeyboardInterrupt
    for kind, detail in outcomes:
        if kind == "user":
            raise RunError(detail)
        if kind == "bug":
            raise RuntimeError(f"a tuning worker failed:\n{detail}")
    if len(outcomes) < len(workers):
        codes = ", ".join(f"{p.name} {p.exitcode}" for p in workers)
        raise RunError(f"a tuning worker ended without reporting (exit codes: {codes}); "
                       f"run the same command again to resume")
    return sum(int(detail) for kind, detail in outcomes if kind == "done")


# --- reading a study back -----------------------------------------------------------------------


@dataclass(frozen=True)
class StudyData:
    """A study as stored: its definition, windows, the default rule's and every trial's returns.

    trials    one row per trial: number, state, rule, stop, take_profit, the tuned levels, same_as
              (a repeated cell's first trial), seconds, worker; sorted by number
    returns   window returns, one column per COMPLETE trial (by number), one row per window (by event)
    default   the default rule's window returns on the same windows
    """

    name: str
    definition: dict
    windows: pd.DataFrame  # event, first, end
    trials: pd.DataFrame
    returns: pd.DataFrame
    default: pd.Series
    default_rule: str

    @property
    def space(self) -> SearchSpace:
        values = dict(self.definition["space"])
        return SearchSpace(values["stop_kind"], tuple(values["stop_levels"]), values["take_profit_kind"],
                           tuple(values["take_profit_levels"]))

    def distinct(self) -> pd.DataFrame:
        """The returns with each cell once (its first COMPLETE trial): the trials as different
        rules, which is what the walk-forward chooses among and what PBO and DSR count."""
        first = self.trials[(self.trials["state"] == "COMPLETE") & self.trials["same_as"].isna()]
        return self.returns[[n for n in first["number"] if n in self.returns.columns]]


def load_study_data(study: optuna.Study) -> StudyData:
    """Everything a report needs, read from the study alone (any worker, any machine)."""
    attrs = study.user_attrs
    missing = [key for key in ("definition", "windows", "default_window_returns") if key not in attrs]
    if missing:
        raise RunError(f"study {study.study_name!r} was not made by `cli.py tune` (no {missing[0]})")
    definition = attrs["definition"]
    if definition.get("format") != STUDY_FORMAT:
        raise RunError(f"study {study.study_name!r} has format {definition.get('format')}, this version "
                       f"reads format {STUDY_FORMAT}")
    windows = pd.DataFrame(attrs["windows"], columns=["event", "first", "end"]).apply(pd.to_datetime)
    index = pd.DatetimeIndex(windows["event"], name="event")
    space = SearchSpace(**{key: (tuple(value) if isinstance(value, list) else value)
                           for key, value in definition["space"].items()})
    rows, columns = [], {}
    seen: dict[tuple, int] = {}
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        params = t.params
        has_cell = all(name in params for name in space.names)
        cell = space.cell(params) if has_cell else None
        same_as = t.user_attrs.get("same_as")
        if t.state == TrialState.COMPLETE and "window_returns" in t.user_attrs:
            values = np.asarray(t.user_attrs["window_returns"], dtype=float)
            if len(values) != len(index):
                raise RunError(f"trial {t.number} of study {study.study_name!r} has {len(values)} window "
                               f"returns for {len(index)} windows")
            columns[t.number] = values
            if same_as is None and cell in seen:
                same_as = seen[cell]  # a cell two workers both ran: the first one counts
            seen.setdefault(cell, t.number)
        rows.append({
            "number": t.number,
            "state": t.state.name,
            "rule": space.rule_text(params) if has_cell else "",
            "stop": space.stop_rule(params).spec() if has_cell else "",
            "take_profit": (space.take_profit_rule(params).spec()
                            if has_cell and space.take_profit_kind else ""),
            STOP_PARAM: params.get(STOP_PARAM, np.nan),
            TAKE_PROFIT_PARAM: params.get(TAKE_PROFIT_PARAM, np.nan),
            "same_as": same_as,
            "seconds": t.duration.total_seconds() if t.duration is not None else np.nan,
            "worker": t.user_attrs.get("worker", ""),
        })
    trials = pd.DataFrame(rows, columns=["number", "state", "rule", "stop", "take_profit", STOP_PARAM,
                                         TAKE_PROFIT_PARAM, "same_as", "seconds", "worker"])
    trials["same_as"] = trials["same_as"].astype("Int64")
    returns = pd.DataFrame(columns, index=index)
    default = pd.Series(np.asarray(attrs["default_window_returns"], dtype=float), index=index, name="default")
    return StudyData(study.study_name, definition, windows, trials, returns, default,
                     attrs.get("default_rule", "default rules"))


# --- walk-forward -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fold:
    """One test year: the rule chosen on the years before it, and how it and the default did in it."""

    year: int
    train_windows: int
    test_windows: int
    trial: int  # number of the chosen trial
    train_score: float  # the chosen trial's objective over the training windows (in sample)
    test_score: float  # its objective over the test year's windows (out of sample)
    default_test_score: float  # the default rule's objective over the same test windows
    best_test_score: float  # the best any trial did in the test year (hindsight, for scale)


@dataclass(frozen=True)
class WalkForward:
    """Every fold, and the totals: the in-sample mean of the folds' training scores; out of sample
    the objective over all test windows stitched together, for the walk-forward rule (each year's
    windows traded with that year's choice) and for the default rule."""

    folds: tuple[Fold, ...]
    min_train_years: int
    test_returns: pd.Series  # the walk-forward's out-of-sample window returns
    default_test_returns: pd.Series

    @property
    def first_test_year(self) -> int | None:
        return self.folds[0].year if self.folds else None

    def total_train_score(self, objective: str) -> float:
        return float(np.mean([f.train_score for f in self.folds])) if self.folds else math.nan

    def total_test_score(self, objective: str) -> float:
        return score(objective, self.test_returns.to_numpy()) if self.folds else math.nan

    def default_total_test_score(self, objective: str) -> float:
        return score(objective, self.default_test_returns.to_numpy()) if self.folds else math.nan


def fold_masks(windows: pd.DataFrame, min_train_years: int):
    """(year, train mask, test mask) per test year, over the windows' rows.

    Test year Y: the windows whose event falls in Y. Training: the windows whose event falls before Y
    AND whose measured span ends before Y's first window begins (a purge that matters only when
    windows are long enough to overlap); at least `min_train_years` years of events before Y.
    """
    years = pd.DatetimeIndex(windows["event"]).year.to_numpy()
    firsts = pd.DatetimeIndex(windows["first"])
    ends = pd.DatetimeIndex(windows["end"])
    distinct = sorted(set(years.tolist()))
    for year in distinct[min_train_years:]:
        test = years == year
        opens = firsts[test].min()
        train = (years < year) & (ends < opens)
        if train.any():
            yield year, train, test


def walk_forward(data: StudyData, objective: str, min_train_years: int = DEFAULT_MIN_TRAIN_YEARS,
                 returns: pd.DataFrame | None = None) -> WalkForward:
    """Choose on the years before Y, score on Y, for every test year Y (see fold_masks)."""
    matrix = data.distinct() if returns is None else returns
    folds, stitched, default_stitched = [], [], []
    if matrix.shape[1] == 0:
        empty = pd.Series(dtype=float)
        return WalkForward((), min_train_years, empty, empty)
    values = matrix.to_numpy(float)
    for year, train, test in fold_masks(data.windows, min_train_years):
        train_scores = score(objective, values[train])
        chosen = best_index(train_scores)
        test_scores = score(objective, values[test])
        folds.append(Fold(
            year=int(year), train_windows=int(train.sum()), test_windows=int(test.sum()),
            trial=int(matrix.columns[chosen]), train_score=float(train_scores[chosen]),
            test_score=float(test_scores[chosen]),
            default_test_score=score(objective, data.default.to_numpy()[test]),
            best_test_score=float(np.nanmax(test_scores)) if np.isfinite(test_scores).any() else math.nan,
        ))
        stitched.append(matrix.iloc[test, chosen])
        default_stitched.append(data.default[test])
    if not folds:
        empty = pd.Series(dtype=float)
        return WalkForward((), min_train_years, empty, empty)
    return WalkForward(tuple(folds), min_train_years, pd.concat(stitched).rename("walk_forward"),
                       pd.concat(default_stitched).rename("default"))


# --- the whole evaluation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """The study judged: leaderboard scores, walk-forward, and the overfitting figures."""

    data: StudyData
    objective: str
    in_sample: pd.Series  # objective over all windows, per COMPLETE trial (by number)
    default_score: float
    walk_forward: WalkForward
    pbo: PBOResult
    deflated_sharpe: dict
    best_trial: int | None  # best in-sample distinct trial


def different_series(returns: pd.DataFrame) -> pd.DataFrame:
    """The columns whose window returns differ from every earlier column's: rules that behaved
    identically on these windows (a take-profit never reached, a stop never touched) are one rule as
    far as the data can tell, and count once in PBO and the deflated Sharpe ratio.

    >>> frame = pd.DataFrame({3: [0.1, 0.2], 5: [0.1, 0.2], 8: [0.0, 0.2]})
    >>> list(different_series(frame).columns)
    [3, 8]
    """
    seen, keep = set(), []
    for column in returns.columns:
        key = returns[column].to_numpy(float).tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(column)
    return returns[keep]


def evaluate(data: StudyData, min_train_years: int = DEFAULT_MIN_TRAIN_YEARS) -> Evaluation:
    """Score every trial, run the walk-forward, and measure overfitting over the different rules."""
    objective = data.definition["objective"]
    in_sample = pd.Series(score(objective, data.returns.to_numpy(float)) if data.returns.shape[1] else [],
                          index=data.returns.columns, dtype=float, name="in_sample")
    distinct = data.distinct()
    best = int(distinct.columns[best_index(in_sample[distinct.columns])]) if distinct.shape[1] else None
    rules = different_series(distinct)  # the best keeps its column: ties go to the lowest number
    pbo = pbo_cscv(rules.to_numpy(float), lambda m: score(objective, m))
    dsr = deflated_sharpe_of(rules.to_numpy(float), None if best is None else list(rules.columns).index(best))
    return Evaluation(data, objective, in_sample, score(objective, data.default.to_numpy()),
                      walk_forward(data, objective, min_train_years), pbo, dsr, best)


# --- cli.py tune --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuneOutcome:
    """What `cli.py tune` did and found."""

    request: TuneRequest
    study_name: str
    storage: str  # password masked
    out_dir: Path
    evaluation: Evaluation
    finished_now: int  # trials finished by this command's workers
    finished_before: int  # trials already complete when it started (a resumed study)
    still_running: int  # trials other workers were running when the report was made
    prepare_seconds: float
    trial_seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    engine: EngineCheck | None = None


def _holds_a_study(out_dir: Path) -> bool:
    """A used --out a tuning run may take up again: it holds a study file or a study's report (which
    study is checked once the name is known, `_report_study`)."""
    return (out_dir / STUDY_FILE).is_file() or (out_dir / REPORT_JSON).is_file()


def _report_study(out_dir: Path) -> str | None:
    """The study whose report (tuning.json) is in out_dir, or None when there is none."""
    path = out_dir / REPORT_JSON
    if not path.is_file():
        return None
    try:
        study = json.loads(path.read_text(encoding="utf-8")).get("study")
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise RunError(f"--out {out_dir} holds a {REPORT_JSON} that is not a tuning report; "
                       "give another --out") from None
    return str(study) if study is not None else None


def tune(request: TuneRequest, market: Market | None = None) -> TuneOutcome:
    """Prepare the market once (or take `market`, prepared for the request's data and window), open
    or resume the study, run the remaining trials with request.jobs workers, and judge the study.
    Ctrl-C becomes a RunError that says how to resume."""
    started = time.perf_counter()
    check_out_dir(request.out, reusable=_holds_a_study, offer_overwrite=False)  # before any work
    space = SearchSpace.parse(request.stop, request.take_profit)
    settings = base_settings(request)
    spec = jobs.market_spec(settings)
    if market is None:
        preflight_csv([request.strategy], spec)
        market = prepare_market(spec)
    elif market.spec != spec or market.stepped:
        raise RunError(f"the market given was prepared for {market.spec}, not for this study's {spec}")
    check_market(request.strategy, market)
    stepped = window_market(market)
    definition = study_definition(request, space, market)
    name = request.study or default_study_name(definition)
    out_dir = Path(request.out) if request.out else Path("results") / f"tune-{name}"
    check_out_dir(out_dir, reusable=_holds_a_study, offer_overwrite=False)
    found = _report_study(out_dir)
    if found is not None and found != name:
        raise RunError(f"--out {out_dir} holds the report of study {found!r}, not {name!r}; give another "
                       f"--out, or --study {found} (with that study's settings) to resume it")
    if request.storage is None:
        out_dir.mkdir(parents=True, exist_ok=True)
    url = request.storage or sqlite_url(out_dir / STUDY_FILE)
    target = space.size if request.sampler == "grid" else int(request.trials)
    pending = PendingEngineCheck(stepped, settings, space) if request.engine == "trial" else None
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        storage = open_storage(url)
        try:
            study = open_study(storage, name, create=True, sampler=optuna.samplers.RandomSampler())
            check_definition(study, definition, url)
            if "windows" not in study.user_attrs:
                study.set_user_attr("windows", window_records(market.windows, market.sessions))
            engine = pending.result() if pending is not None else EngineCheck("backtrader", "", None)
            context = TrialContext(url, name, space, settings, stepped, request.objective, request.sampler,
                                   target, request.seed, engine.engine)
            if "default_window_returns" not in study.user_attrs:
                # the rule the tuned ones must beat, run once per study and kept with it
                default = evaluate_rule(stepped, settings, engine=engine.engine)
                study.set_user_attr("default_rule", default_rule_text(request.strategy))
                study.set_user_attr("default_window_returns", [float(x) for x in default])
            before = _count_complete(study.get_trials(deepcopy=False))
        finally:
            storage.engine.dispose()  # no open connection is carried into forked workers
        prepared = time.perf_counter()
        try:
            finished = run_workers(context, request.jobs, request.progress, storage)
        except KeyboardInterrupt:
            complete = count_complete(url, name, storage)
            raise RunError(f"interrupted: {complete} trials of study {name!r} are saved in {shown_url(url)}; "
                           f"run the same command again to resume") from None
        trial_seconds = time.perf_counter() - prepared
        data = read_study(url, name, storage)
    finally:
        optuna.logging.set_verbosity(verbosity)
        if pending is not None:
            pending.close()
    still_running = int((data.trials["state"] == "RUNNING").sum())
    evaluation = evaluate(data, request.min_train_years)
    return TuneOutcome(request, name, shown_url(url), out_dir, evaluation, finished, before, still_running,
                       prepared - started, trial_seconds, tuple(market.notes), engine)


def read_study(url: str, name: str, storage: optuna.storages.RDBStorage | None = None) -> StudyData:
    """The stored study `name` at `url` (load_study_data), the connection closed afterwards."""
    with _using(url, storage) as storage:
        return load_study_data(_plain(storage, name))


def report_study(url: str, name: str, min_train_years: int = DEFAULT_MIN_TRAIN_YEARS) -> Evaluation:
    """Judge a stored study without running anything (another machine's, or a finished one)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        data = read_study(url, name)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return evaluate(data, min_train_years)
