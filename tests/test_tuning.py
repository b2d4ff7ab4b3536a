"""backtests.tuning, backtests.tuning_report and `cli.py tune`.

Unit tests score synthetic window returns against independent formulas and check the walk-forward
by construction; the integration tests run real (short, 2012-2018) studies: a resumed study skips
its finished trials, --jobs 2 shares one grid, a killed worker's cell is run again, and the best
in-sample trial is reproduced exactly by a plain `cli.py backtest`.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import optuna
import pandas as pd
import pytest
from click.testing import CliRunner
from rates import CASH_RATE_ARGS, NOVEMBER_2018_CASH_RATE

from backtests import tuning
from backtests.errors import RunError
from backtests.market import MarketSpec, prepare_market
from backtests.metrics import drawdown_series
from backtests.tuning import (
    STOP_PARAM,
    TAKE_PROFIT_PARAM,
    SearchSpace,
    StudyData,
    TuneRequest,
    best_index,
    evaluate,
    fold_masks,
    score,
    tune,
    walk_forward,
    window_records,
)
from backtests.tuning_report import (
    leaderboard,
    plot_heatmap,
    plot_is_oos,
    verdict,
    walk_forward_frame,
    write_reports,
)
from backtests.windows_eval import window_returns
from cli import main
from data.calendar import nyse_sessions
from data.windows import windows_of_kind

ROOT = Path(__file__).resolve().parents[1]
START, END = pd.Timestamp("2012-01-01"), pd.Timestamp("2018-12-31")


# --- objectives -----------------------------------------------------------------------------------


def test_objectives_match_independent_formulas():
    r = [0.012, -0.004, 0.031, -0.018, 0.0, 0.007, -0.009, 0.022]
    n = len(r)
    assert score("mean-window-return", r) == pytest.approx(statistics.fmean(r), rel=1e-12)
    assert score("hit-rate", r) == 4 / 8
    assert score("sharpe", r) == pytest.approx(statistics.fmean(r) / statistics.stdev(r), rel=1e-12)
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / n)
    assert score("sortino", r) == pytest.approx(statistics.fmean(r) / downside, rel=1e-12)
    # calmar: geometric mean window return over the deepest fall of the compounded sequence, the
    # fall measured by backtests.metrics (equity 1.0 before the first window)
    geometric = math.prod(1 + x for x in r) ** (1 / n) - 1
    deepest = drawdown_series(pd.Series(r)).min()
    assert score("calmar", r) == pytest.approx(geometric / abs(deepest), rel=1e-12)


@pytest.mark.parametrize("objective", list(tuning.OBJECTIVES))
def test_a_matrix_is_scored_column_by_column(objective):
    rng = np.random.default_rng(1)
    matrix = rng.normal(0.001, 0.02, size=(12, 5))
    columns = score(objective, matrix)
    assert columns.shape == (5,)
    for j in range(5):
        assert columns[j] == pytest.approx(score(objective, matrix[:, j]), rel=1e-12)
    cube = score(objective, np.stack([matrix, -matrix], axis=1))  # (windows, 2, trials)
    assert cube.shape == (2, 5)
    assert cube[1] == pytest.approx(score(objective, -matrix), rel=1e-12, nan_ok=True)


def test_undefined_scores_are_nan_and_rank_last():
    assert math.isnan(score("sharpe", [0.01, 0.01, 0.01]))  # no spread
    assert math.isnan(score("sortino", [0.01, 0.02]))  # no losing window
    assert math.isnan(score("calmar", [0.01, 0.02]))  # no drawdown
    assert math.isnan(score("mean-window-return", [0.01, np.nan]))  # a missing window
    assert math.isnan(score("hit-rate", []))
    assert best_index([np.nan, -1.0, -1.0, -2.0]) == 1
    with pytest.raises(RunError, match="unknown objective 'sharp'"):
        score("sharp", [0.1])


# --- the search space ---------------------------------------------------------------------------


def test_search_space_texts_round_trip_to_the_backtest_options():
    space = SearchSpace.parse("trailing:2%..5%:1%", "4%..8%:4%")
    assert space.stop_levels == (0.02, 0.03, 0.04, 0.05)
    assert space.take_profit_levels == (0.04, 0.08)
    assert space.size == 8 and space.names == (STOP_PARAM, TAKE_PROFIT_PARAM)
    params = {STOP_PARAM: 0.03, TAKE_PROFIT_PARAM: 0.08}
    assert space.rule_settings(params) == {"stop": "trailing:3%", "take_profit": "8%"}
    assert SearchSpace.parse("time:5..15:5").rule_settings({STOP_PARAM: 10.0}) == {"stop": "time:10"}
    assert SearchSpace.parse("atr:2..3:0.5").rule_text({STOP_PARAM: 2.5}) == "atr:2.5x"


@pytest.mark.parametrize("sampler", [optuna.samplers.TPESampler(seed=1),
                                     optuna.samplers.RandomSampler(seed=1)])
def test_sampled_levels_are_exact_grid_values(sampler):
    space = SearchSpace.parse("trailing:1%..10%:0.5%", "2%..20%:2%")
    seen = []

    def objective(trial):
        params = space.suggest(trial)
        seen.append(params)
        return params[STOP_PARAM] - params[TAKE_PROFIT_PARAM]

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.create_study(sampler=sampler, direction="maximize").optimize(objective, n_trials=40)
    assert all(p[STOP_PARAM] in space.stop_levels and p[TAKE_PROFIT_PARAM] in space.take_profit_levels
               for p in seen)


def test_grid_sampler_visits_every_cell_once():
    space = SearchSpace.parse("trailing:1%..4%:1%", "5%..15%:5%")
    seen = []

    def objective(trial):
        seen.append(space.cell(space.suggest(trial)))
        return 0.0

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.create_study(sampler=optuna.samplers.GridSampler(space.grid(), seed=0)).optimize(objective)
    assert sorted(seen) == sorted((s, t) for s in space.stop_levels for t in space.take_profit_levels)


def test_our_grid_sampler_hands_out_the_cells_optunas_does(tmp_path):
    # the stored grid_id read by one query, the after-trial read dropped: the same cell for every
    # trial number as Optuna's GridSampler on the same storage kind, each cell once
    space = SearchSpace.parse("trailing:2%..4%:1%", "8%..16%:8%")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    cells = {}
    for name, sampler in (("ours", tuning._GridSampler(space.grid(), seed=0)),
                          ("optuna", optuna.samplers.GridSampler(space.grid(), seed=0))):
        study = optuna.create_study(storage=tuning.sqlite_url(tmp_path / f"{name}.db"), sampler=sampler)
        cells[name] = []

        def objective(trial, seen=cells[name]):
            seen.append(space.cell(space.suggest(trial)))
            return 0.0

        study.optimize(objective, n_trials=space.size)
    assert cells["ours"] == cells["optuna"]
    every = [(s, t) for s in space.stop_levels for t in space.take_profit_levels]
    assert sorted(cells["ours"]) == sorted(every)


def grid_context(tmp_path, monkeypatch, calls):
    """A two-cell grid study whose trials return fixed window returns (no backtest)."""
    space = SearchSpace.parse("trailing:2%..3%:1%")
    url = tuning.sqlite_url(tmp_path / "grid.db")

    def fake(market, settings, rule=None, engine="trial"):
        calls.append(rule)
        return np.array([0.01, -0.02, 0.03])

    monkeypatch.setattr(tuning, "evaluate_rule", fake)
    context = tuning.TrialContext(url, "grid", space, {}, None, "mean-window-return", "grid", space.size)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(storage=url, study_name="grid",
                                sampler=optuna.samplers.GridSampler(space.grid(), seed=0))
    return context, study


def test_a_grid_cell_handed_out_twice_is_pruned_not_run(tmp_path, monkeypatch):
    calls = []
    context, study = grid_context(tmp_path, monkeypatch, calls)
    held = study.ask()  # trial 0 holds cell 0 and is still running (another worker)
    study.optimize(lambda trial: tuning._objective(trial, context), n_trials=1)  # trial 1: cell 1
    # every cell is now started: Optuna's GridSampler hands trial 2 the running cell 0 again
    study.optimize(lambda trial: tuning._objective(trial, context), n_trials=1)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["RUNNING", "COMPLETE", "PRUNED"]
    assert trials[2].system_attrs["grid_id"] == trials[0].system_attrs["grid_id"]
    assert len(calls) == 1  # the pruned trial ran no backtest
    assert held.number == 0 and tuning.remaining(trials, context) == 0


def test_a_failed_cell_is_queued_again_once(tmp_path, monkeypatch):
    calls = []
    context, study = grid_context(tmp_path, monkeypatch, calls)
    cut = study.ask()
    study.tell(cut, state=optuna.trial.TrialState.FAIL)  # what Ctrl-C leaves behind
    plain = optuna.load_study(study_name="grid", storage=context.url, sampler=optuna.samplers.RandomSampler())
    assert tuning.remaining(plain.get_trials(), context) == 2
    tuning.housekeep(plain, context)
    tuning.housekeep(plain, context)  # a second look finds the cell queued: no second copy
    waiting = [t for t in plain.get_trials() if t.state.name == "WAITING"]
    assert len(waiting) == 1 and waiting[0].system_attrs["retry_of"] == cut.number
    assert waiting[0].system_attrs["grid_id"] == study.get_trials()[0].system_attrs["grid_id"]
    assert tuning.work(context) == 2  # the queued cell and the untouched one, nothing more
    complete = [t for t in plain.get_trials() if t.state.name == "COMPLETE"]
    assert sorted(t.params[STOP_PARAM] for t in complete) == [0.02, 0.03]


def test_a_cut_last_cell_is_run_on_resume(tmp_path, monkeypatch):
    calls = []
    context, study = grid_context(tmp_path, monkeypatch, calls)
    study.optimize(lambda trial: tuning._objective(trial, context), n_trials=1)  # cell 0 done
    cut = study.ask()  # the last cell, cut short by Ctrl-C
    plain = optuna.load_study(study_name="grid", storage=context.url, sampler=optuna.samplers.RandomSampler())
    plain.tell(cut.number, state=optuna.trial.TrialState.FAIL)
    # queued again, that cell is still to run: the worker must not stop on it
    assert tuning.work(context) == 1
    trials = plain.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[2].system_attrs["retry_of"] == cut.number
    assert sorted(t.params[STOP_PARAM] for t in trials if t.state.name == "COMPLETE") == [0.02, 0.03]
    assert tuning.remaining(trials, context) == 0 and len(calls) == 2


def test_the_grid_holder_check_agrees_with_a_scan_of_every_trial(tmp_path, monkeypatch):
    context, study = grid_context(tmp_path, monkeypatch, [])
    held = study.ask()  # trial 0: cell 0, running
    study.optimize(lambda trial: tuning._objective(trial, context), n_trials=1)  # trial 1: cell 1
    second = study.ask()  # trial 2: every cell started, handed a cell again
    trials = study.get_trials()
    cell = trials[second.number].system_attrs["grid_id"]
    scan = [t.number for t in trials if t.number < second.number and t.state.name in ("COMPLETE", "RUNNING")
            and t.system_attrs["grid_id"] == cell]
    assert scan == [held.number]
    assert tuning.grid_holder(second) == held.number  # one query in the RDB storage, same answer
    assert tuning.grid_holder(held) is None  # the first holder runs its cell
    plain = optuna.load_study(study_name="grid", storage=context.url, sampler=optuna.samplers.RandomSampler())
    plain.tell(held.number, state=optuna.trial.TrialState.PRUNED)  # a pruned trial holds nothing
    assert tuning.grid_holder(second) is None


def test_a_trial_waits_for_the_cell_of_a_lower_trial_just_started(tmp_path, monkeypatch):
    """Optuna stores a new trial, then its cell: a trial checked in between must not take the cell
    too (two workers once ran one cell twice that way, with trials of a few milliseconds)."""
    import threading

    context, study = grid_context(tmp_path, monkeypatch, [])
    storage = study._storage
    starting = storage.create_new_trial(study._study_id)  # trial 0: running, its cell not stored yet
    later = study.ask()  # trial 1, handed cell 0 as well
    cell = study.get_trials()[later.number].system_attrs["grid_id"]
    assert tuning.remaining(study.get_trials(), context) == 0  # trial 0 takes the other cell
    monkeypatch.setattr(tuning, "CELL_WAIT_SECONDS", 0.1)
    started = time.monotonic()
    assert tuning.grid_holder(later) is None  # a bounded wait (its worker may have died), then no holder
    assert 0.1 <= time.monotonic() - started < 1.0
    monkeypatch.setattr(tuning, "CELL_WAIT_SECONDS", 2.0)
    threading.Timer(0.2, storage.set_trial_system_attr, (starting, "grid_id", cell)).start()
    started = time.monotonic()
    assert tuning.grid_holder(later) == 0  # waited for trial 0's cell, then gave way to it
    assert 0.15 < time.monotonic() - started < 2.0


def test_a_worker_that_dies_without_reporting_is_named(tmp_path, monkeypatch):
    context, _ = grid_context(tmp_path, monkeypatch, [])
    monkeypatch.setattr(tuning, "evaluate_rule",
                        lambda market, settings, rule=None, engine="trial": os._exit(9))
    codes = r"\(exit codes: tune-worker-0 9, tune-worker-1 9\)"
    with pytest.raises(RunError, match=r"ended without reporting " + codes):
        tuning.run_workers(context, 2, progress=False)


# --- walk-forward by construction ---------------------------------------------------------------


def windows_table(kind="triple-witching", first="2010-01-01", last="2018-12-31", before=5, after=5):
    sessions = nyse_sessions("2009-01-01", "2019-06-28")
    windows = [w for w in windows_of_kind(kind, sessions, before, after)
               if pd.Timestamp(first) <= w.event <= pd.Timestamp(last)]
    table = pd.DataFrame(window_records(windows, sessions), columns=["event", "first", "end"])
    return table.apply(pd.to_datetime)


def synthetic_study(returns: np.ndarray, windows: pd.DataFrame, objective="sharpe", default=None,
                    space: SearchSpace | None = None) -> StudyData:
    trials_count = returns.shape[1]
    space = space or SearchSpace("trailing", tuple(round(0.01 * (n + 1), 2) for n in range(trials_count)))
    levels = [space.stop_levels[n % len(space.stop_levels)] for n in range(trials_count)]
    tps = [space.take_profit_levels[n // len(space.stop_levels)] if space.take_profit_kind else np.nan
           for n in range(trials_count)]
    trials = pd.DataFrame({
        "number": range(trials_count), "state": "COMPLETE",
        "rule": [f"trailing:{lv:.0%}" for lv in levels], "stop": [f"trailing:{lv:.0%}" for lv in levels],
        "take_profit": "", STOP_PARAM: levels, TAKE_PROFIT_PARAM: tps,
        "same_as": pd.array([pd.NA] * trials_count, dtype="Int64"), "seconds": 0.1, "worker": "w:1",
    })
    index = pd.DatetimeIndex(windows["event"], name="event")
    default = np.zeros(len(index)) if default is None else default
    definition = {"objective": objective, "strategy": "neutral", "window": "triple-witching",
                  "sampler": "grid", "space": space.to_dict()}
    return StudyData("synthetic", definition, windows, trials, pd.DataFrame(returns, index=index),
                     pd.Series(default, index=index, name="default"), "no stop, no take-profit")


def test_folds_never_train_on_the_windows_they_test_even_when_windows_overlap():
    # 15 sessions either side of a monthly expiry: consecutive windows overlap, so the windows of
    # December reach into January's; the purge must drop them from the next year's training set
    table = windows_table("monthly-expiry", "2012-01-01", "2016-12-31", before=15, after=15)
    purged = 0
    folds = list(fold_masks(table, 2))
    assert [year for year, _, _ in folds] == [2014, 2015, 2016]
    for year, train, test in folds:
        assert not (train & test).any()
        assert (table["event"][test].dt.year == year).all()
        assert (table["event"][train].dt.year < year).all()
        test_spans = list(zip(table["first"][test], table["end"][test]))
        for first, end in zip(table["first"][train], table["end"][train]):
            assert all(end < t_first or first > t_end for t_first, t_end in test_spans)
        purged += int(((table["event"].dt.year < year) & ~train).sum())
    assert purged > 0  # the December windows were dropped, not silently kept


def test_walk_forward_chooses_on_the_past_alone():
    table = windows_table()  # triple witching 2010-2018: 36 windows
    rng = np.random.default_rng(4)
    returns = rng.normal(0.0, 0.02, size=(len(table), 8))
    default = rng.normal(0.0, 0.02, size=len(table))
    data = synthetic_study(returns, table, objective="sharpe", default=default)
    wf = walk_forward(data, "sharpe", min_train_years=3)
    years = table["event"].dt.year.to_numpy()
    assert [f.year for f in wf.folds] == list(range(2013, 2019))
    for fold in wf.folds:
        # the choice, recomputed with pandas on the windows before the fold's year
        past = pd.DataFrame(returns[years < fold.year])
        expected = (past.mean() / past.std(ddof=1)).idxmax()
        assert fold.trial == expected
        now = returns[years == fold.year, fold.trial]
        assert fold.test_score == pytest.approx(now.mean() / now.std(ddof=1), rel=1e-12)
        assert fold.train_windows == int((years < fold.year).sum()) and fold.test_windows == 4
    # rewrite the future from 2016 on (trial 5 becomes a sure winner there): every fold before 2016
    # chooses and scores exactly as before, and 2016's choice is unchanged (its training is the past)
    future = returns.copy()
    future[years >= 2016] = rng.normal(0.0, 0.02, size=((years >= 2016).sum(), 8))
    future[years >= 2016, 5] += 0.5
    changed = walk_forward(synthetic_study(future, table, default=default), "sharpe", min_train_years=3)
    for old, new in zip(wf.folds, changed.folds):
        if old.year < 2016:
            assert new == old
        elif old.year == 2016:
            assert (new.trial, new.train_score) == (old.trial, old.train_score)
            assert new.test_score != old.test_score
    # and the stitched out-of-sample series is exactly the chosen trials' test windows
    stitched = np.concatenate([returns[years == f.year, f.trial] for f in wf.folds])
    assert np.array_equal(wf.test_returns.to_numpy(), stitched)


def test_leaderboard_and_walk_forward_tables():
    table = windows_table()
    rng = np.random.default_rng(9)
    returns = rng.normal(0.001, 0.02, size=(len(table), 4))
    returns[:, 2] += 0.01  # the best in sample
    data = synthetic_study(returns, table, objective="mean-window-return", default=np.full(len(table), 0.001))
    evaluation = evaluate(data, min_train_years=3)
    assert evaluation.pbo.trials == 4 and evaluation.deflated_sharpe["trials"] == 4
    twins = returns.copy()
    twins[:, 3] = twins[:, 0]  # a rule that behaved exactly as another counts once in PBO and DSR
    assert evaluate(synthetic_study(twins, table, objective="mean-window-return")).pbo.trials == 3
    board = leaderboard(evaluation)
    means = returns.mean(axis=0)
    assert board["trial"].tolist() == list(np.argsort(-means))
    assert board["rank"].tolist() == [1, 2, 3, 4]
    years = table["event"].dt.year.to_numpy()
    row = board.set_index("trial").loc[2]
    assert row["in_sample"] == pytest.approx(means[2])
    assert row["train_years"] == pytest.approx(returns[years < 2013, 2].mean())
    assert row["test_years"] == pytest.approx(returns[years >= 2013, 2].mean())
    frame = walk_forward_frame(evaluation)
    assert frame["year"].tolist() == [str(y) for y in range(2013, 2019)] + ["total"]
    total = frame.iloc[-1]
    assert total["out_of_sample"] == pytest.approx(evaluation.walk_forward.test_returns.mean())
    assert total["default_out_of_sample"] == pytest.approx(0.001)
    chosen = " ".join(str(f.year) for f in evaluation.walk_forward.folds if f.trial == 2)
    assert row["chosen_in"] == chosen
    assert "BEAT" in verdict(evaluation) or "NOT" in verdict(evaluation)
    beat = total["out_of_sample"] > total["default_out_of_sample"]
    assert ("the tuned rule BEAT the default" in verdict(evaluation)) == beat


def test_figures_are_written(tmp_path):
    table = windows_table()
    space = SearchSpace.parse("trailing:1%..3%:1%", "4%..8%:4%")
    returns = np.random.default_rng(2).normal(0.0, 0.02, size=(len(table), 6))
    two = evaluate(synthetic_study(returns, table, space=space))
    heatmap = plot_heatmap(two, tmp_path / "heatmap.png")
    assert matplotlib.image.imread(heatmap).shape[2] == 4
    one = evaluate(synthetic_study(returns[:, :3], table))
    assert plot_heatmap(one, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()
    image = matplotlib.image.imread(plot_is_oos(one, tmp_path / "is_oos.png"))
    assert image.shape[0] > 300 and image.shape[1] > 800


# --- real studies (2012-2018, triple-witching windows) ------------------------------------------


@pytest.fixture(scope="module")
def witching_market():
    """The market every integration study uses, prepared once for the module."""
    return prepare_market(MarketSpec(start=START, end=END, window="triple-witching",
                                     cash_rate=NOVEMBER_2018_CASH_RATE))


def request(tmp_path, **changes) -> TuneRequest:
    values = {"strategy": "neutral", "stop": "trailing:1%..6%:1%", "start": START, "end": END,
              "out": str(tmp_path / "tune"), "progress": False, "cash_rate": NOVEMBER_2018_CASH_RATE}
    return TuneRequest(**{**values, **changes})


def stored_trials(outcome):
    name = outcome.study_name
    url = tuning.sqlite_url(Path(outcome.out_dir) / tuning.STUDY_FILE)
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def test_a_resumed_study_skips_its_finished_trials(tmp_path, witching_market, monkeypatch):
    real = tuning.evaluate_rule
    calls = []

    def interrupted_on_third(market, settings, rule=None, engine="trial"):
        calls.append(rule)
        if rule is not None and sum(c is not None for c in calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the third trial
        return real(market, settings, rule, engine)

    monkeypatch.setattr(tuning, "evaluate_rule", interrupted_on_third)
    with pytest.raises(RunError, match="interrupted: 2 trials .* run the same command again to resume"):
        tune(request(tmp_path), market=witching_market)
    first = {t.number: t for t in optuna.load_study(
        study_name=tuning.default_study_name(tuning.study_definition(
            request(tmp_path), SearchSpace.parse("trailing:1%..6%:1%"), witching_market)),
        storage=tuning.sqlite_url(tmp_path / "tune" / tuning.STUDY_FILE)).get_trials()}
    assert sorted(t.state.name for t in first.values()) == ["COMPLETE", "COMPLETE", "FAIL"]
    assert calls[0] is None  # the default rule, run once when the study was made

    calls.clear()

    def counted(market, settings, rule=None, engine="trial"):
        calls.append(rule)
        return real(market, settings, rule, engine)

    monkeypatch.setattr(tuning, "evaluate_rule", counted)
    outcome = tune(request(tmp_path), market=witching_market)
    done_before = {first[n].params[STOP_PARAM] for n in first if first[n].state.name == "COMPLETE"}
    rerun = [rule["stops"][0].spec() for rule in calls]  # the typed rules a trial runs (SearchSpace.rules)
    assert None not in calls  # the default rule is kept in the study, not run again
    assert len(rerun) == 4 and {f"trailing:{round(level * 100)}%" for level in done_before}.isdisjoint(rerun)
    assert (outcome.finished_before, outcome.finished_now) == (2, 4)
    trials = stored_trials(outcome)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params[STOP_PARAM] for t in complete) == [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]
    for number, old in first.items():  # the finished trials are the same rows, untouched
        if old.state.name == "COMPLETE":
            kept = next(t for t in trials if t.number == number)
            assert kept.value == old.value and kept.user_attrs == old.user_attrs

    calls.clear()
    again = tune(request(tmp_path), market=witching_market)
    assert calls == [] and again.finished_now == 0 and again.finished_before == 6


def test_two_local_workers_share_one_grid(tmp_path, witching_market):
    outcome = tune(request(tmp_path, jobs=2, stop="trailing:1%..6%:1%"), market=witching_market)
    trials = stored_trials(outcome)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params[STOP_PARAM] for t in complete) == [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]
    assert len({t.user_attrs["worker"] for t in complete}) == 2  # both processes ran trials
    assert outcome.finished_now == 6 and outcome.finished_before == 0
    assert not [t for t in trials if t.state.name == "RUNNING"]


def test_random_sampler_reuses_a_repeated_cell(tmp_path, witching_market, monkeypatch):
    real = tuning.evaluate_rule
    calls = []

    def counted(market, settings, rule=None, engine="trial"):
        calls.append(rule)
        return real(market, settings, rule, engine)

    monkeypatch.setattr(tuning, "evaluate_rule", counted)
    outcome = tune(request(tmp_path, stop="trailing:2%..3%:1%", sampler="random", trials=5, seed=3),
                   market=witching_market)
    trials = outcome.evaluation.data.trials
    assert len(trials) == 5 and (trials["state"] == "COMPLETE").all()
    distinct = trials[trials["same_as"].isna()]
    assert len(calls) - 1 == len(distinct) <= 2  # one backtest per distinct cell (+ the default)
    returns = outcome.evaluation.data.returns
    for _, row in trials[trials["same_as"].notna()].iterrows():
        assert np.array_equal(returns[row["number"]], returns[int(row["same_as"])])
        assert row[STOP_PARAM] == trials.set_index("number").loc[int(row["same_as"]), STOP_PARAM]
    different = {tuple(returns[n]) for n in distinct["number"]}
    assert outcome.evaluation.pbo.trials == len(different)


def test_a_study_defined_otherwise_is_refused(tmp_path, witching_market):
    tune(request(tmp_path, stop="trailing:2%..3%:1%", study="mine"), market=witching_market)
    with pytest.raises(RunError, match="study 'mine' .* was made with objective = 'sharpe', not 'hit-rate'"):
        tune(request(tmp_path, stop="trailing:2%..3%:1%", study="mine", objective="hit-rate"),
             market=witching_market)


@pytest.mark.slow
def test_a_killed_worker_has_its_cell_run_again(tmp_path, witching_market):
    out = tmp_path / "tune"
    command = [sys.executable, str(ROOT / "cli.py"), "tune", "--strategy", "neutral", "--stop",
               "trailing:1%..6%:1%", "--start", "2012-01-01", "--end", "2018-12-31", *CASH_RATE_ARGS, "--out",
               str(out), "--no-progress", "--engine", "backtrader"]  # trials slow enough to be caught running
    log = tmp_path / "worker.log"
    with open(log, "wb") as sink:
        worker = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    url = tuning.sqlite_url(out / tuning.STUDY_FILE)
    deadline = time.monotonic() + 120
    killed = watcher = None
    while time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.05)
        if not (out / tuning.STUDY_FILE).exists():
            continue
        try:
            # one storage for every look (opening one per look costs Optuna's schema checks, long
            # enough to miss a trial of a fraction of a second); the worker makes the tables
            watcher = watcher or optuna.storages.RDBStorage(url, skip_table_creation=True,
                                                              skip_compatibility_check=True)
            summaries = optuna.get_all_study_summaries(watcher)
            if not summaries:
                continue
            trials = optuna.load_study(study_name=summaries[0].study_name, storage=watcher).get_trials()
        except Exception:  # the worker may be creating the schema this very moment
            continue
        states = [t.state.name for t in trials]
        running = [t for t in trials if t.state.name == "RUNNING" and "worker" in t.user_attrs]
        if states.count("COMPLETE") >= 2 and running:
            os.kill(worker.pid, signal.SIGKILL)  # no chance to mark its trial failed
            worker.wait()
            killed = running[0].number
            break
    if watcher is not None:
        watcher.engine.dispose()
    if killed is None:
        worker.kill()
        worker.wait()
    assert killed is not None, log.read_text()
    study_name = summaries[0].study_name
    before = {t.number: t for t in optuna.load_study(study_name=study_name, storage=url).get_trials()}
    assert before[killed].state.name == "RUNNING"
    outcome = tune(request(tmp_path, stop="trailing:1%..6%:1%"), market=witching_market)
    assert outcome.study_name == study_name
    after = {t.number: t for t in stored_trials(outcome)}
    assert after[killed].state.name == "FAIL"  # its worker is gone: failed, and its cell queued again
    complete = [t for t in after.values() if t.state.name == "COMPLETE"]
    assert sorted(t.params[STOP_PARAM] for t in complete) == [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]
    assert any(t.system_attrs.get("retry_of") == killed for t in complete)
    for number, old in before.items():
        if old.state.name == "COMPLETE":
            assert after[number].user_attrs == old.user_attrs


@pytest.mark.slow
def test_cli_tune_and_the_best_trial_reproduced_by_a_plain_backtest(tmp_path):
    runner = CliRunner()
    out = tmp_path / "tune"
    result = runner.invoke(main, ["tune", "--strategy", "neutral", "--stop", "trailing:1%..4%:1%",
                                  "--take-profit", "5%..10%:5%", "--start", "2012-01-01", "--end",
                                  "2018-12-31", *CASH_RATE_ARGS, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "verdict: out of sample (2015-2018, 16 windows)" in result.output
    assert "overfitting: PBO" in result.output and "deflated Sharpe ratio" in result.output
    for name in ("leaderboard.csv", "walk_forward.csv", "heatmap.png", "is_oos.png", "summary.txt",
                 "tuning.json", "study.db"):
        assert (out / name).is_file(), name
    board = pd.read_csv(out / "leaderboard.csv")
    assert len(board) == 8 and board["rank"].iloc[0] == 1
    best = board.iloc[0]
    data = tuning.read_study(tuning.sqlite_url(out / "study.db"), result.output.split()[1])
    stored = data.returns[int(best["trial"])].to_numpy()

    backtest = runner.invoke(main, ["backtest", "--strategy", "neutral", "--window", "triple-witching",
                                    "--start", "2012-01-01", "--end", "2018-12-31", *CASH_RATE_ARGS,
                                    "--stop", best["stop"],
                                    "--take-profit", best["take_profit"], "--out", str(tmp_path / "bt"),
                                    "--no-tearsheet"])
    assert backtest.exit_code == 0, backtest.output
    returns = pd.read_csv(tmp_path / "bt" / "returns.csv", index_col="date", parse_dates=True)["returns"]
    market = prepare_market(MarketSpec(start=START, end=END, window="triple-witching",
                                     cash_rate=NOVEMBER_2018_CASH_RATE))
    again = window_returns(returns, market.windows).to_numpy()
    assert np.array_equal(again, stored)  # exactly: the same run, not a near one
    assert score("sharpe", again) == best["in_sample"]
    windows_csv = tmp_path / "bt" / "windows.csv"
    if windows_csv.exists():  # the per-window table prints 10 significant digits
        assert pd.read_csv(windows_csv)["return"].to_numpy() == pytest.approx(stored, rel=1e-8, abs=1e-12)


def test_cli_refuses_bad_options(tmp_path):
    runner = CliRunner()
    base = ["tune", "--strategy", "neutral", "--out", str(tmp_path / "x")]
    result = runner.invoke(main, base + ["--stop", "trailing:2%..10%"])
    assert result.exit_code == 2 and "--stop" in result.output and "step" in result.output
    result = runner.invoke(main, base + ["--stop", "trailing:2%..4%:1%", "--sampler", "tpe"])
    assert result.exit_code == 2 and "--trials" in result.output
    result = runner.invoke(main, base + ["--stop", "trailing:2%..4%:1%", "--trials", "5"])
    assert result.exit_code == 2 and "grid sampler runs every cell" in result.output
    result = runner.invoke(main, base + ["--stop", "trailing:2%..4%:1%", "--strategy", "benchmark"])
    assert result.exit_code == 2
    assert not (tmp_path / "x").exists()


def test_write_reports_from_a_finished_study(tmp_path, witching_market):
    outcome = tune(request(tmp_path, stop="trailing:2%..4%:1%"), market=witching_market)
    files = write_reports(outcome)
    assert set(files) == {"leaderboard.csv", "walk_forward.csv", "is_oos.png", "tuning.json", "summary.txt"}
    summary = (Path(outcome.out_dir) / "summary.txt").read_text()
    assert summary.startswith(f"study {outcome.study_name}")
    assert "grid of 3 cells; 3 trials complete (3 distinct)" in summary
    board = pd.read_csv(files["leaderboard.csv"])
    assert board["in_sample"].tolist() == sorted(board["in_sample"], reverse=True)
    # every leaderboard score is the objective of the stored window returns
    for _, row in board.iterrows():
        stored = outcome.evaluation.data.returns[row["trial"]]
        assert row["in_sample"] == pytest.approx(score("sharpe", stored), rel=1e-12)
