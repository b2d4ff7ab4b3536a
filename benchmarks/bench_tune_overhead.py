"""Per-trial study overhead of tuning: everything a trial costs besides its backtest.

Run by hand (not in CI):

    python benchmarks/bench_tune_overhead.py [--cells 100 400] [--jobs 1 2] [--windows 80]

`backtests.tuning.evaluate_rule` is replaced by a stub that returns a fixed array of --windows
returns (no market, no backtest), and `run_workers` runs a fresh grid study of --cells trailing-stop
cells in a temporary SQLite file with --jobs processes, as `cli.py tune` does after preparing the
market. What is timed is therefore the Optuna / storage work alone: sampling, the cell checks,
`set_user_attr` round trips, housekeeping, and the parent's progress polling. Printed per run: the
wall time, milliseconds per trial (wall / cells, so with 2 jobs it is the study's throughput, not
a trial's latency), the CPU milliseconds per trial of all processes (less sensitive to a busy
machine than the wall time), and a check that every cell was run once and complete. With
--repeat N each case runs N times and the fastest run is shown.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402

from backtests import tuning  # noqa: E402


def stub_returns(windows: int) -> np.ndarray:
    # a realistic payload: 80 distinct doubles, as JSON text the size a real trial stores
    return np.random.default_rng(0).normal(0.0, 0.01, windows)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the --jobs workers), user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(cells: int, jobs: int, windows: int, folder: Path) -> tuple[float, float, int]:
    fixed = stub_returns(windows)
    tuning.evaluate_rule = lambda market, settings, rule=None: fixed  # inherited by forked workers
    step = 10.0 / cells
    space = tuning.SearchSpace.parse(f"trailing:{step:g}%..10%:{step:g}%")
    assert space.size == cells, (space.size, cells)
    folder.mkdir(parents=True, exist_ok=True)
    url = tuning.sqlite_url(folder / f"study-{cells}-{jobs}.db")
    name = "overhead"
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = tuning.open_storage(url)
    try:
        tuning.open_study(storage, name, create=True, sampler=optuna.samplers.RandomSampler())
    finally:
        storage.engine.dispose()
    context = tuning.TrialContext(url, name, space, {}, None, "sharpe", "grid", space.size)
    started, cpu = time.perf_counter(), cpu_seconds()
    finished = tuning.run_workers(context, jobs, progress=False)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    trials = optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    cells_done = {space.cell(t.params) for t in complete}
    if finished != cells or len(complete) != cells or len(cells_done) != cells:
        raise SystemExit(f"{cells} cells, jobs {jobs}: {finished} finished, {len(complete)} complete, "
                         f"{len(cells_done)} distinct cells")
    return wall, cpu, len(trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--windows", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case; the fastest is shown")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores; stub backtest, "
          f"{args.windows} window returns a trial")
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as temp:
        for cells in args.cells:
            for jobs in args.jobs:
                runs = [run(cells, jobs, args.windows, Path(temp) / f"{r}") for r in range(args.repeat)]
                wall, cpu, stored = min(runs)
                print(f"{cells:4d} cells --jobs {jobs}: {wall:6.2f} s, {1000 * wall / cells:5.1f} ms a trial "
                      f"(CPU {1000 * cpu / cells:5.1f} ms a trial, all processes); {stored} trials stored, "
                      f"{stored - cells} pruned")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
