"""Time a 100-trial tuning grid with one worker process and with two.

Run by hand (not in CI):  python benchmarks/bench_tune.py [--jobs 1 2] [--summary]
The grid: 100 trailing stops (trailing:0.1%..10%:0.1%) on the neutral strategy over the
triple-witching windows of 1999-2018 (80 windows), as `cli.py tune --strategy neutral --stop
trailing:0.1%..10%:0.1% --start 1999-01-01 --end 2018-12-31 --cash-rate 0.0216 --jobs N` runs it,
each time a fresh study in a temporary directory. Timed: the whole `tuning.tune` call (market
prepared once, default rule, trials, evaluation with walk-forward, PBO and DSR) and the report
files. Target (issue 7): under 60 s with --jobs 2 on a 2-core machine; trials per second are
compared with the one-process run.
The machine may be shared with other work: the script prints the load average and the CPU seconds
the run used (this process and its workers), and from them the wall time the run would take with
the cores to itself: preparation + (CPU seconds - preparation) / min(jobs, cores).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from backtests.tuning import TuneRequest, tune  # noqa: E402
from backtests.tuning_report import format_summary, write_reports  # noqa: E402

GRID = "trailing:0.1%..10%:0.1%"
TARGET_SECONDS = 60.0


def cpu_seconds() -> float:
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def run(jobs: int, directory: Path):
    # December 2018 has no published T-bill rate: November's (RF 0.18% a month) stands in, as the
    # timings before the rate ended at 2018-11-30 carried it
    request = TuneRequest("neutral", GRID, window="triple-witching", start=pd.Timestamp("1999-01-01"),
                          end=pd.Timestamp("2018-12-31"), jobs=jobs, out=str(directory / f"jobs{jobs}"),
                          progress=False, cash_rate=0.18 * 12.0 / 100.0)
    start, cpu = time.perf_counter(), cpu_seconds()
    outcome = tune(request)
    tuned = time.perf_counter()
    files = write_reports(outcome)
    return outcome, files, tuned - start, time.perf_counter() - start, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--summary", action="store_true", help="Print the last run's tuning summary.")
    args = parser.parse_args()
    rates = {}
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as temp:
        for jobs in args.jobs:
            load = os.getloadavg()[0]
            outcome, files, tuned, total, cpu = run(jobs, Path(temp))
            trials = outcome.finished_now
            rates[jobs] = trials / outcome.trial_seconds
            evaluation_seconds = tuned - outcome.prepare_seconds - outcome.trial_seconds
            print(f"--jobs {jobs}: {total:6.1f} s in all = prepare {outcome.prepare_seconds:4.1f} s "
                  f"+ {trials} trials {outcome.trial_seconds:5.1f} s ({rates[jobs]:.2f} trials/s) "
                  f"+ evaluation {evaluation_seconds:4.1f} s + reports {total - tuned:4.1f} s"
                  + (f"  [target < {TARGET_SECONDS:.0f} s: {'met' if total < TARGET_SECONDS else 'MISSED'}]"
                     if jobs == 2 else ""))
            alone = outcome.prepare_seconds + (cpu - outcome.prepare_seconds) / min(jobs, os.cpu_count() or 1)
            print(f"          CPU {cpu:6.1f} s ({(cpu - outcome.prepare_seconds) / trials:.2f} s per trial); "
                  f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}; "
                  f"with the cores to itself ~{alone:.0f} s")
        if 1 in rates:
            for jobs, rate in rates.items():
                if jobs != 1:
                    print(f"--jobs {jobs} runs {rate / rates[1]:.2f}x the trials per second of one process")
        if args.summary:
            print(format_summary(outcome, files))


if __name__ == "__main__":
    main()
