"""Tuning speed: today's path against the code before the speed work (issue 15), on the same grid.

Run by hand (not in CI):

    python benchmarks/bench_tune.py [--grid witching|year-end|both] [--jobs 1 2] [--baseline REV]
                                    [--no-baseline] [--stub-backtest]

Grids (each a fresh study in a temporary directory, 1999-2018, --cash-rate 0.0216 where no T-bill
rate is published):
  witching  neutral, --stop trailing:0.1%..10%:0.1% (100 cells), triple-witching windows (80)
  year-end  neutral, --stop trailing:0.5%..10%:0.5% x --take-profit 1%..20%:1% (400 cells),
            year-end windows, judged with walk-forward as every study is

Each run is a separate Python process, so its figures include start-up (imports, market
preparation) as `cli.py tune` has them. The baseline is the tree at REV (default 145d4b4, the
commit before issue 15), extracted with `git archive` and run the same way: "today's path" before
the change, kept callable without flags in the code. Printed per run: the whole run's wall time
and trials per second (start-up included), the trials' own rate, the peak resident memory of the
largest worker (ru_maxrss), and then the ratio new / baseline and whether the two studies'
leaderboards are identical: every trial's window returns equal with np.array_equal, rule by rule,
and so every score and the best rule.

--stub-backtest replaces `backtests.tuning.evaluate_rule` (the default rule's run and every trial's)
in both trees by a stub that returns fixed window returns drawn from the rule's levels, so what is
timed is everything a study does besides its backtests: start-up (imports, market preparation,
opening the study), Optuna's and the storage's work per trial, and the reports. The "trials" figure
is then the per-trial overhead alone (per-trial figures without start-up:
benchmarks/bench_tune_overhead.py). The leaderboards compared are the stub's, so "identical" then
only says both trees stored and ranked the same returns.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "145d4b4"
GRIDS = {
    "witching": dict(strategy="neutral", stop="trailing:0.1%..10%:0.1%", take_profit=None,
                     window="triple-witching"),
    "year-end": dict(strategy="neutral", stop="trailing:0.5%..10%:0.5%", take_profit="1%..20%:1%",
                     window="year-end"),
}

# run in a child process with the tree under test first on sys.path; prints one JSON line
CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import pandas as pd
from backtests.tuning import TuneRequest, tune
from backtests.tuning_report import write_reports
grid, jobs, out = json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if sys.argv[5] == "stub":
    import numpy as np
    import backtests.tuning

    def stub(market, settings, rule=None):
        # fixed returns per rule, different between rules (the reports then have real work to do)
        levels = [] if not rule else [rule["stops"][0].level] + (
            [rule["take_profit"].level] if rule.get("take_profit") is not None else [])
        seed = int(round(sum(level * 10 ** (6 * k) for k, level in enumerate(levels, 1))))
        return np.random.default_rng(seed).normal(0.0, 0.01, len(market.windows))

    backtests.tuning.evaluate_rule = stub
request = TuneRequest(grid["strategy"], grid["stop"], take_profit=grid["take_profit"], window=grid["window"],
                      start=pd.Timestamp("1999-01-01"), end=pd.Timestamp("2018-12-31"), jobs=jobs, out=out,
                      progress=False, cash_rate=0.0216)
outcome = tune(request)
reported = time.perf_counter()
write_reports(outcome)
wall = time.perf_counter() - started
data, ev = outcome.evaluation.data, outcome.evaluation
rules = dict(zip(data.trials["number"], data.trials["rule"]))
returns = {rules[n]: [float(x).hex() for x in data.returns[n]] for n in data.distinct().columns}
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "trials": outcome.finished_now, "trial_seconds": outcome.trial_seconds,
                  "prepare_seconds": outcome.prepare_seconds,
                  "report_seconds": wall - (reported - started), "worker_kib": own if jobs == 1 else children,
                  "best": rules.get(ev.best_trial), "returns": returns}))
"""


def baseline_tree(rev: str, into: Path) -> Path:
    """The project as it was at `rev`, extracted into `into` (data files included)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run(tree: Path, grid: dict, jobs: int, out: Path, stub: bool = False) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), MPLBACKEND="Agg")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(tree), json.dumps(grid), str(jobs), str(out),
                           "stub" if stub else "real"],
                          cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"run in {tree} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall"] = time.perf_counter() - started  # interpreter start included
    return result


def identical(a: dict, b: dict) -> bool:
    """Same rules, and each rule's window returns equal to the last bit."""
    if set(a["returns"]) != set(b["returns"]):
        return False
    return all(np.array_equal(np.array([float.fromhex(x) for x in a["returns"][rule]]),
                              np.array([float.fromhex(x) for x in b["returns"][rule]]))
               for rule in a["returns"]) and a["best"] == b["best"]


def line(label: str, r: dict) -> str:
    whole, trials = r["trials"] / r["process_wall"], r["trials"] / r["trial_seconds"]
    return (f"{label:9s} {r['process_wall']:6.1f} s in all ({whole:5.2f} trials/s, start-up included); "
            f"trials {r['trial_seconds']:6.1f} s ({trials:5.2f} trials/s); "
            f"prepare {r['prepare_seconds']:4.1f} s; reports {r['report_seconds']:4.1f} s; "
            f"outside the trials {r['process_wall'] - r['trial_seconds']:4.1f} s; "
            f"worker peak {r['worker_kib'] / 1024:5.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=(*GRIDS, "both"), default="witching")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the path to compare with")
    parser.add_argument("--no-baseline", action="store_true", help="time the current tree only")
    parser.add_argument("--stub-backtest", action="store_true",
                        help="a stub in place of every backtest: time the study's own work alone")
    args = parser.parse_args()
    grids = list(GRIDS) if args.grid == "both" else [args.grid]
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores"
          + ("; STUB BACKTEST: the study's own work alone" if args.stub_backtest else ""))
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as temp:
        temp = Path(temp)
        old_tree = None if args.no_baseline else baseline_tree(args.baseline, temp / "baseline")
        for name in grids:
            grid = GRIDS[name]
            print(f"\n{name}: {grid['strategy']} --stop {grid['stop']}"
                  + (f" --take-profit {grid['take_profit']}" if grid["take_profit"] else "")
                  + f" --window {grid['window']}")
            for jobs in args.jobs:
                new = run(ROOT, grid, jobs, temp / f"new-{name}-{jobs}", args.stub_backtest)
                print(f"--jobs {jobs}")
                print(line("new", new))
                if old_tree is None:
                    continue
                old = run(old_tree, grid, jobs, temp / f"old-{name}-{jobs}", args.stub_backtest)
                print(line(args.baseline, old))
                print(f"          ratio: {old['process_wall'] / new['process_wall']:.2f}x the whole run's "
                      f"trials per second, {old['trial_seconds'] / new['trial_seconds']:.2f}x the trials'; "
                      f"leaderboards identical: {'yes' if identical(new, old) else 'NO'} "
                      f"({len(new['returns'])} distinct rules, best {new['best']})")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
