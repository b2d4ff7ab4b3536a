"""What `cli.py tune` writes and prints: the leaderboard, the walk-forward table, a heatmap of a
two-parameter grid, in-sample against out-of-sample scores, and a short plain-language summary.

Every figure comes from a `backtests.tuning.Evaluation`, i.e. from the stored study alone.

Files (in the output directory, each written to a temp file and moved into place):
- leaderboard.csv  one row per trial, best in-sample first: rank, trial, state, rule, stop,
  take_profit, the tuned levels, in_sample (objective over every window), train_years (windows
  before the first walk-forward test year), test_years (windows from that year on), chosen_in (the
  test years whose walk-forward fold chose this trial), same_as (the earlier trial of a repeated
  cell), seconds, worker;
- walk_forward.csv one row per test year (and a total row): the trial chosen on the years before,
  its in-sample and out-of-sample scores, the default rule's out-of-sample score, and the best
  out-of-sample score any trial had (hindsight, for scale);
- heatmap.png      in-sample objective over a stop x take-profit grid (two tuned parameters only);
- is_oos.png       left: each fold's in-sample and out-of-sample score, and the default's; right:
  every trial's score before the first test year against its score from then on;
- summary.txt      the terminal summary; tuning.json the same figures for programs.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from backtests.files import write_atomically
from backtests.overfitting import DSR_MEANING, PBO_MEANING
from backtests.tuning import (
    OBJECTIVES,
    REPORT_JSON,
    STOP_PARAM,
    TAKE_PROFIT_PARAM,
    Evaluation,
    TuneOutcome,
    score,
)
from strategies.risk import format_number, format_percent

LEADERBOARD_CSV = "leaderboard.csv"
WALK_FORWARD_CSV = "walk_forward.csv"
HEATMAP_PNG = "heatmap.png"
IS_OOS_PNG = "is_oos.png"
SUMMARY_TXT = "summary.txt"
TUNING_JSON = REPORT_JSON
LEADERBOARD_COLUMNS = ["rank", "trial", "state", "rule", "stop", "take_profit", STOP_PARAM, TAKE_PROFIT_PARAM,
                       "in_sample", "train_years", "test_years", "chosen_in", "same_as", "seconds", "worker"]
WALK_FORWARD_COLUMNS = ["year", "train_windows", "test_windows", "trial", "rule", "in_sample",
                        "out_of_sample", "default_out_of_sample", "best_out_of_sample"]
_FONT = {"font.family": "DejaVu Sans"}
_PERCENT_OBJECTIVES = ("hit-rate", "mean-window-return")


def shown(objective: str, value: float) -> str:
    """A score as the summary prints it: percent for hit rate and mean return, else a ratio.

    >>> shown("hit-rate", 0.625), shown("sharpe", -0.2564), shown("sharpe", float("nan"))
    ('62.5%', '-0.26', 'n/a')
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    if objective == "mean-window-return":
        return f"{value:.2%}"
    if objective == "hit-rate":
        return f"{value:.1%}"
    return f"{value:.2f}"


def _split_scores(evaluation: Evaluation) -> tuple[pd.Series, pd.Series]:
    """Each COMPLETE trial's objective before the first test year and from it on (NaN: no folds)."""
    data, objective = evaluation.data, evaluation.objective
    first = evaluation.walk_forward.first_test_year
    columns = data.returns.columns
    if first is None or len(columns) == 0:
        nan = pd.Series(np.nan, index=columns, dtype=float)
        return nan, nan
    years = pd.DatetimeIndex(data.windows["event"]).year.to_numpy()
    values = data.returns.to_numpy(float)
    train = pd.Series(score(objective, values[years < first]), index=columns, dtype=float)
    test = pd.Series(score(objective, values[years >= first]), index=columns, dtype=float)
    return train, test


def leaderboard(evaluation: Evaluation) -> pd.DataFrame:
    """Every trial with its parameters and scores; COMPLETE trials ranked by in-sample score."""
    trials = evaluation.data.trials.rename(columns={"number": "trial"})
    trials.index = pd.Index(trials["trial"].to_numpy(), name=None)
    train, test = _split_scores(evaluation)
    chosen: dict[int, list[str]] = {}
    for fold in evaluation.walk_forward.folds:
        chosen.setdefault(fold.trial, []).append(str(fold.year))
    board = trials.assign(
        in_sample=evaluation.in_sample.reindex(trials.index),
        train_years=train.reindex(trials.index),
        test_years=test.reindex(trials.index),
        chosen_in=[" ".join(chosen.get(n, [])) for n in trials.index],
    )
    board = board.reset_index(drop=True)
    board["rank"] = board["in_sample"].rank(ascending=False, method="min", na_option="keep").astype("Int64")
    board["_state"] = board["state"] != "COMPLETE"
    board = board.sort_values(["_state", "in_sample", "trial"], ascending=[True, False, True],
                              na_position="last", kind="stable")
    return board[LEADERBOARD_COLUMNS].reset_index(drop=True)


def walk_forward_frame(evaluation: Evaluation) -> pd.DataFrame:
    """One row per fold and a total row (in-sample: the folds' mean; out of sample: the objective over
    all test windows stitched together, for the walk-forward rule and for the default)."""
    wf, objective = evaluation.walk_forward, evaluation.objective
    rules = evaluation.data.trials.set_index("number")["rule"]
    rows = [{
        "year": str(f.year), "train_windows": f.train_windows, "test_windows": f.test_windows,
        "trial": f.trial, "rule": rules.get(f.trial, ""), "in_sample": f.train_score,
        "out_of_sample": f.test_score, "default_out_of_sample": f.default_test_score,
        "best_out_of_sample": f.best_test_score,
    } for f in wf.folds]
    if wf.folds:
        rows.append({
            "year": "total", "train_windows": np.nan, "test_windows": sum(f.test_windows for f in wf.folds),
            "trial": np.nan, "rule": "", "in_sample": wf.total_train_score(objective),
            "out_of_sample": wf.total_test_score(objective),
            "default_out_of_sample": wf.default_total_test_score(objective), "best_out_of_sample": np.nan,
        })
    frame = pd.DataFrame(rows, columns=WALK_FORWARD_COLUMNS)
    for column in ("train_windows", "trial"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _level_text(kind: str, level: float) -> str:
    return format_number(level) if kind in ("atr", "time") else format_percent(level)


def plot_heatmap(evaluation: Evaluation, path: str | os.PathLike) -> Path | None:
    """In-sample objective over the stop x take-profit grid, best cell outlined; None (nothing
    written) unless two parameters were tuned."""
    data = evaluation.data
    space = data.space
    if space.take_profit_kind is None:
        return None
    distinct = data.distinct().columns
    trials = data.trials.set_index("number").loc[list(distinct)]
    cells = pd.DataFrame({"stop": trials[STOP_PARAM], "take_profit": trials[TAKE_PROFIT_PARAM],
                          "score": evaluation.in_sample.reindex(distinct).to_numpy()})
    grid = cells.pivot_table(index="stop", columns="take_profit", values="score", aggfunc="first")
    grid = grid.reindex(index=list(space.stop_levels), columns=list(space.take_profit_levels))
    figure = Figure(figsize=(1.6 + 0.55 * grid.shape[1], 1.4 + 0.4 * grid.shape[0]), dpi=110)
    FigureCanvasAgg(figure)
    with matplotlib.rc_context(_FONT):
        axes = figure.add_subplot(1, 1, 1)
        image = axes.imshow(np.ma.masked_invalid(grid.to_numpy(float)), aspect="auto", cmap="viridis",
                            origin="lower")
        axes.set_xticks(range(grid.shape[1]), [_level_text(space.take_profit_kind, v) for v in grid.columns],
                        rotation=90)
        axes.set_yticks(range(grid.shape[0]), [_level_text(space.stop_kind, v) for v in grid.index])
        axes.set_xlabel(f"take-profit ({space.take_profit_kind})")
        axes.set_ylabel(f"{space.stop_kind} stop")
        best = evaluation.best_trial
        if best is not None:
            row = list(grid.index).index(trials.loc[best, STOP_PARAM])
            column = list(grid.columns).index(trials.loc[best, TAKE_PROFIT_PARAM])
            axes.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False,
                                                        edgecolor="red", linewidth=2))
        axes.set_title(f"{data.definition['strategy']}: in-sample {evaluation.objective}, "
                       f"{len(data.windows)} {data.definition['window']} windows", fontsize=9)
        figure.colorbar(image, ax=axes, label=evaluation.objective)
        figure.tight_layout()
        return _save_figure(figure, path)


def plot_is_oos(evaluation: Evaluation, path: str | os.PathLike) -> Path:
    """Left: per fold, the chosen rule's in-sample and out-of-sample scores and the default's.
    Right: every distinct trial's score before the first test year against its score from it on."""
    wf, objective = evaluation.walk_forward, evaluation.objective
    figure = Figure(figsize=(11, 4.2), dpi=110)
    FigureCanvasAgg(figure)
    with matplotlib.rc_context(_FONT):
        left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
        if wf.folds:
            years = [f.year for f in wf.folds]
            left.plot(years, [f.train_score for f in wf.folds], "o-", label="chosen rule, in sample")
            left.plot(years, [f.test_score for f in wf.folds], "s-", label="chosen rule, out of sample")
            left.plot(years, [f.default_test_score for f in wf.folds], "x--", color="grey",
                      label="default rule, out of sample")
            left.axhline(0.0, color="black", linewidth=0.5)
            left.legend(fontsize=8)
            left.set_xlabel("test year")
            train, test = _split_scores(evaluation)
            distinct = evaluation.data.distinct().columns
            right.scatter(train[distinct], test[distinct], s=14, alpha=0.7, label="trials")
            first = wf.first_test_year
            years_of = pd.DatetimeIndex(evaluation.data.windows["event"]).year.to_numpy()
            default = evaluation.data.default.to_numpy()
            right.scatter([score(objective, default[years_of < first])],
                          [score(objective, default[years_of >= first])], marker="*", s=120, color="red",
                          label="default rule")
            right.set_xlabel(f"{objective}, windows before {first} (in sample)")
            right.set_ylabel(f"{objective}, windows from {first} (out of sample)")
            right.legend(fontsize=8)
        else:
            left.text(0.5, 0.5, "no walk-forward fold: too few years", ha="center", va="center")
            right.set_axis_off()
        left.set_ylabel(objective)
        left.set_title("walk-forward: choose on the years before, score on the year", fontsize=9)
        right.set_title("does in-sample rank carry over?", fontsize=9)
        figure.tight_layout()
        return _save_figure(figure, path)


def _save_figure(figure: Figure, path) -> Path:
    path = Path(path)
    return write_atomically(path, lambda temp: figure.savefig(temp, format="png"))


def _write_text(path: Path, text: str) -> Path:
    return write_atomically(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"))


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return write_atomically(path, lambda temp: frame.to_csv(temp, index=False, lineterminator="\n"))


def verdict(evaluation: Evaluation) -> str:
    """One plain sentence: did the walk-forward rule beat the default out of sample?"""
    wf, objective = evaluation.walk_forward, evaluation.objective
    if not wf.folds:
        return ("no out-of-sample verdict: the span has too few years for a walk-forward fold "
                f"(it needs more than {wf.min_train_years}).")
    tuned, default = wf.total_test_score(objective), wf.default_total_test_score(objective)
    windows = sum(f.test_windows for f in wf.folds)
    head = (f"out of sample ({wf.folds[0].year}-{wf.folds[-1].year}, {windows} windows) the tuned rule, "
            f"re-chosen each year on the years before, scored {objective} {shown(objective, tuned)} against "
            f"{shown(objective, default)} for keeping the default rule: ")
    if not (math.isfinite(tuned) and math.isfinite(default)):
        return head + "one of the scores is undefined, so there is no verdict."
    if tuned > default:
        return head + "the tuned rule BEAT the default."
    if tuned == default:
        return head + "a tie: tuning gained nothing."
    return head + "the tuned rule did NOT beat the default."


def format_summary(outcome: TuneOutcome, files: dict[str, Path] | None = None) -> str:
    """The short terminal summary."""
    evaluation = outcome.evaluation
    data, objective, wf = evaluation.data, evaluation.objective, evaluation.walk_forward
    definition, space = data.definition, data.space
    trials = data.trials
    complete = int((trials["state"] == "COMPLETE").sum())
    distinct = data.distinct().shape[1]
    request = outcome.request
    target = space.size if definition["sampler"] == "grid" else request.trials
    what = (f"grid of {space.size} cells" if definition["sampler"] == "grid"
            else f"{definition['sampler']} search of {target} trials over {space.size} cells")
    events = pd.DatetimeIndex(data.windows["event"])
    lines = [
        f"study {outcome.study_name} ({outcome.storage}): {what}; {complete} trials complete "
        f"({distinct} distinct), {outcome.finished_now} run now by {request.jobs} worker(s) in "
        f"{outcome.trial_seconds:.1f} s, {outcome.finished_before} resumed",
        f"objective: {objective} = {OBJECTIVES[objective]}",
        f"windows: {len(events)} {definition['window']} windows, events {events[0]:%Y-%m-%d} to "
        f"{events[-1]:%Y-%m-%d}; {definition['strategy']} with costs and other rules at their defaults",
    ]
    if outcome.engine is not None:
        lines.append(outcome.engine.text())
    rules = trials.set_index("number")["rule"]
    if evaluation.best_trial is not None:
        best = evaluation.best_trial
        lines.append(f"in sample (all windows): best {rules[best]} (trial {best}) "
                     f"{shown(objective, evaluation.in_sample[best])}; "
                     f"default rule ({data.default_rule}) {shown(objective, evaluation.default_score)}")
    if wf.folds:
        lines.append(f"walk-forward: for each year Y choose the best trial on the windows before Y (at least "
                     f"{wf.min_train_years} years), score it on Y's windows")
        width = max(len("chosen"), *(len(rules.get(f.trial, "")) for f in wf.folds))
        lines.append(f"  {'year':<6}{'chosen':<{width + 2}}{'in-sample':>10}{'out-of-sample':>15}"
                     f"{'default':>10}{'hindsight best':>16}")
        for f in wf.folds:
            lines.append(f"  {f.year:<6}{rules.get(f.trial, ''):<{width + 2}}"
                         f"{shown(objective, f.train_score):>10}{shown(objective, f.test_score):>15}"
                         f"{shown(objective, f.default_test_score):>10}"
                         f"{shown(objective, f.best_test_score):>16}")
        total = f"total ({sum(f.test_windows for f in wf.folds)} windows)"
        lines.append(f"  {total:<{width + 8}}{shown(objective, wf.total_train_score(objective)):>10}"
                     f"{shown(objective, wf.total_test_score(objective)):>15}"
                     f"{shown(objective, wf.default_total_test_score(objective)):>10}"
                     "   (in-sample total: mean of the folds; out of sample: all test windows together)")
    lines.append("verdict: " + verdict(evaluation))
    pbo = evaluation.pbo
    if math.isfinite(pbo.pbo):
        lines.append(f"overfitting: PBO {pbo.pbo:.2f} ({pbo.splits} splits of {pbo.windows} windows in "
                     f"{pbo.groups} groups, over {pbo.trials} rules with different window returns). "
                     f"{PBO_MEANING}")
    else:
        lines.append(f"overfitting: no PBO ({pbo.reason}).")
    dsr = evaluation.deflated_sharpe
    if math.isfinite(dsr["dsr"]):
        lines.append(f"deflated Sharpe ratio {dsr['dsr']:.2f} for the best in-sample trial (per-window "
                     f"Sharpe {dsr['sharpe']:.2f} against {dsr['expected_max_sharpe']:.2f} expected from the "
                     f"best of {dsr['trials']} unskilled trials). {DSR_MEANING}")
    else:
        lines.append(f"deflated Sharpe ratio: not computed ({dsr['reason']}).")
    if definition["sampler"] == "tpe":
        lines.append("note: TPE proposed its trials by looking at every window, so the walk-forward is "
                     "strictly out of sample only for grid and random searches.")
    if outcome.still_running:
        lines.append(f"note: {outcome.still_running} trial(s) were still running in other workers; run the "
                     "command again later for the full report.")
    duplicates = int(trials["same_as"].notna().sum())
    if duplicates:
        lines.append(f"note: {duplicates} trial(s) repeated a cell already run and count once.")
    lines.extend(f"note: {note}" for note in outcome.notes)
    if files:
        lines.append(f"files in {outcome.out_dir}: {', '.join(path.name for path in files.values())}")
    return "\n".join(lines)


def _plain_number(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def tuning_document(outcome: TuneOutcome) -> dict:
    """The summary's figures as plain JSON."""
    evaluation = outcome.evaluation
    objective, wf = evaluation.objective, evaluation.walk_forward
    pbo, dsr = evaluation.pbo, evaluation.deflated_sharpe
    return {
        "study": outcome.study_name,
        "storage": outcome.storage,
        "definition": evaluation.data.definition,
        "objective_meaning": OBJECTIVES[objective],
        "trials_complete": int((evaluation.data.trials["state"] == "COMPLETE").sum()),
        "trials_distinct": int(evaluation.data.distinct().shape[1]),
        "best_trial": evaluation.best_trial,
        "best_in_sample": _plain_number(evaluation.in_sample.get(evaluation.best_trial))
        if evaluation.best_trial is not None else None,
        "default_rule": evaluation.data.default_rule,
        "default_in_sample": _plain_number(evaluation.default_score),
        "walk_forward": {
            "min_train_years": wf.min_train_years,
            "folds": [{"year": f.year, "trial": f.trial, "in_sample": _plain_number(f.train_score),
                       "out_of_sample": _plain_number(f.test_score),
                       "default_out_of_sample": _plain_number(f.default_test_score)} for f in wf.folds],
            "total_in_sample": _plain_number(wf.total_train_score(objective)),
            "total_out_of_sample": _plain_number(wf.total_test_score(objective)),
            "default_total_out_of_sample": _plain_number(wf.default_total_test_score(objective)),
        },
        "verdict": verdict(evaluation),
        "pbo": {"value": _plain_number(pbo.pbo), "splits": pbo.splits, "groups": pbo.groups,
                "trials": pbo.trials, "windows": pbo.windows, "reason": pbo.reason, "meaning": PBO_MEANING},
        "deflated_sharpe": {**{k: (_plain_number(v) if isinstance(v, float) else v) for k, v in dsr.items()},
                            "meaning": DSR_MEANING},
        "seconds": {"prepare": round(outcome.prepare_seconds, 3), "trials": round(outcome.trial_seconds, 3)},
        "engine": outcome.engine.to_dict() if outcome.engine is not None else None,
        "jobs": outcome.request.jobs,
    }


def write_reports(outcome: TuneOutcome) -> dict[str, Path]:
    """Write every file of the report into outcome.out_dir; returns {name: path}."""
    out = Path(outcome.out_dir)
    evaluation = outcome.evaluation
    files = {
        LEADERBOARD_CSV: _write_csv(out / LEADERBOARD_CSV, leaderboard(evaluation)),
        WALK_FORWARD_CSV: _write_csv(out / WALK_FORWARD_CSV, walk_forward_frame(evaluation)),
    }
    heatmap = plot_heatmap(evaluation, out / HEATMAP_PNG)
    if heatmap is not None:
        files[HEATMAP_PNG] = heatmap
    files[IS_OOS_PNG] = plot_is_oos(evaluation, out / IS_OOS_PNG)
    files[TUNING_JSON] = _write_text(out / TUNING_JSON, json.dumps(tuning_document(outcome), indent=2,
                                                                    sort_keys=True, allow_nan=False) + "\n")
    files[SUMMARY_TXT] = out / SUMMARY_TXT
    _write_text(out / SUMMARY_TXT, format_summary(outcome, files) + "\n")
    return files
