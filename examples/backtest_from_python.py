"""A backtest from Python: prepare the market once, run a playbook twice on it (its default risk
rules, then a 3% trailing stop), print the metrics table and write the second run's files.

    python examples/backtest_from_python.py                      # all the embedded history
    python examples/backtest_from_python.py --start 2016-01-04 --out /tmp/momentum

The same objects `cli.py backtest` builds: MarketSpec -> prepare_market -> Market (data, signals,
classifier and option inputs, computed once), RunSettings -> run_backtest -> RunResult.
"""

import argparse
import dataclasses

from backtests.market import MarketSpec, prepare_market
from backtests.metrics import format_table, metrics_table
from backtests.outputs import write_run
from backtests.runner import RunSettings, run_backtest
from strategies.registry import get_strategy
from strategies.rulespec import parse_stop


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", default="momentum")
    parser.add_argument("--start", help="first session, YYYY-MM-DD [the data's first]")
    parser.add_argument("--end", help="last session, YYYY-MM-DD [the data's last]")
    parser.add_argument("--out", help="write the second run's files here (returns.csv, run.json, ...)")
    args = parser.parse_args(argv)

    market = prepare_market(MarketSpec(start=args.start, end=args.end))  # the slow part, done once
    default = run_backtest(RunSettings(strategy=args.strategy), market)

    # The strategy's own risk rules with the stops replaced: RiskConfig is a frozen dataclass
    risk = dataclasses.replace(get_strategy(args.strategy).default_risk, stops=(parse_stop("trailing:3%"),))
    stopped = run_backtest(RunSettings(strategy=args.strategy, risk=risk), market)

    table = metrics_table([default, stopped])
    table.columns = [f"{args.strategy} (default rules)", f"{args.strategy} (trailing 3%)", "benchmark"]
    print(f"{len(market.sessions)} sessions, {market.sessions[0]:%Y-%m-%d} .. {market.sessions[-1]:%Y-%m-%d}")
    print(format_table(table))
    if args.out:
        print(f"files written to {write_run(stopped, args.out, tearsheet=False)}")


if __name__ == "__main__":
    main()
