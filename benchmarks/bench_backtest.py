"""Time a full-history run of each strategy and the whole `cli.py backtest --strategy neutral`.

Run by hand (not in CI):  python benchmarks/bench_backtest.py [--repeat 3]
Prints seconds and sessions per second for each strategy on the embedded 1999-2018 data, the market
preparation (data, classifier, volatility proxy: done once per run or study), and the end-to-end
command with its tearsheet. Targets (issue 5): each strategy under 5 s, the command under 20 s.
The machine is noisy: compare the ratios within one run, and take the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backtests.market import MarketSpec, prepare_market  # noqa: E402
from backtests.runner import RunSettings, run_backtest  # noqa: E402
from strategies.registry import STRATEGIES  # noqa: E402


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    market = None

    def prepare():
        nonlocal market
        market = prepare_market(MarketSpec())

    prep = best_of(args.repeat, prepare)
    sessions = len(market.sessions)
    print(f"market preparation       {prep:6.2f} s  ({sessions} sessions, 1999-2018 embedded)")
    baseline = None
    for name in STRATEGIES:
        seconds = best_of(args.repeat, lambda name=name: run_backtest(RunSettings(name), market))
        baseline = baseline or seconds
        print(f"{name:<24} {seconds:6.2f} s  {sessions / seconds:8.0f} sessions/s  "
              f"{seconds / baseline:5.2f}x the {list(STRATEGIES)[0]} run")
    with tempfile.TemporaryDirectory() as tmp:
        def command():
            out = Path(tmp) / f"run-{time.monotonic_ns()}"
            subprocess.run([sys.executable, "cli.py", "backtest", "--strategy", "neutral", "--out", str(out)],
                           cwd=ROOT, check=True, capture_output=True)

        seconds = best_of(args.repeat, command)
    print(f"cli backtest neutral     {seconds:6.2f} s  end to end, tearsheet included "
          f"({sessions / seconds:.0f} sessions/s)")


if __name__ == "__main__":
    main()
