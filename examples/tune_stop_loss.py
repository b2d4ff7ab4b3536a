"""A stop-loss tuning run: a grid of trailing stops for one playbook, each trial a windows-only
backtest over every triple-witching window, then judged walk-forward (each year scored with the
stop chosen on the years before it) against the strategy's default rule.

    python examples/tune_stop_loss.py --out results/tune-example        # all the history, 2%..10% by 2%
    python examples/tune_stop_loss.py --stop trailing:2%..6%:2% --start 2012-01-03 --out /tmp/tune

What `cli.py tune` runs; the study (study.db) resumes if run again with the same --out.
"""

import argparse

from backtests.tuning import TuneRequest, tune
from backtests.tuning_report import format_summary, write_reports


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", default="neutral")
    parser.add_argument("--stop", default="trailing:2%..10%:2%", help="a range, KIND:START..STOP:STEP")
    parser.add_argument("--window", default="triple-witching")
    parser.add_argument("--start", help="first session, YYYY-MM-DD [the data's first]")
    parser.add_argument("--end", help="last session, YYYY-MM-DD [the data's last]")
    parser.add_argument("--min-train-years", type=int, default=3,
                        help="years of windows before the first out-of-sample year")
    parser.add_argument("--out", required=True, help="output folder (leaderboard.csv, walk_forward.csv, ...)")
    args = parser.parse_args(argv)

    request = TuneRequest(strategy=args.strategy, stop=args.stop, window=args.window,
                          start=args.start, end=args.end, min_train_years=args.min_train_years,
                          out=args.out, progress=False)
    outcome = tune(request)
    print(format_summary(outcome, write_reports(outcome)))


if __name__ == "__main__":
    main()
