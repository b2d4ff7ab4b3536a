"""A year-end event study: each strategy held only in the last two weeks of December (5 sessions
either side of the year-end event), one row per window, and whether it beat buy-and-hold there.

    python examples/year_end_event_study.py                       # all the embedded history
    python examples/year_end_event_study.py --start 2010-01-04 --out /tmp/year-end

Prints the event-study summary (mean, median, hit rate, t-stat and bootstrap CI of the window
returns) of every strategy, its excess over the index, and writes one windows CSV per strategy.
`cli.py backtest --window year-end` does the same for one strategy.
"""

import argparse
from pathlib import Path

from backtests.market import MarketSpec, prepare_market, window_market
from backtests.runner import RunSettings, run_backtest
from backtests.windows_eval import event_summary, format_summary, window_table, write_window_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", default="momentum,neutral,defensive,playbook")
    parser.add_argument("--start", help="first session, YYYY-MM-DD [the data's first]")
    parser.add_argument("--end", help="last session, YYYY-MM-DD [the data's last]")
    parser.add_argument("--out", help="folder for <strategy>-windows.csv (one row per window)")
    args = parser.parse_args(argv)

    market = prepare_market(MarketSpec(start=args.start, end=args.end, window="year-end"))
    stepped = window_market(market)  # only the windows (and the session either side): much faster
    print(f"{len(market.windows)} year-end windows, events "
          f"{market.windows[0].event:%Y-%m-%d} .. {market.windows[-1].event:%Y-%m-%d}")
    for name in args.strategies.split(","):
        # windows_only: positions are held only inside a window, cash outside
        result = run_backtest(RunSettings(strategy=name, windows_only=True), stepped)
        table = window_table(result, market.windows, market.regime, show_progress=False)
        print()
        print(format_summary(event_summary(table), name, table))
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            print(f"windows written to {write_window_table(table, Path(args.out) / f'{name}-windows.csv')}")


if __name__ == "__main__":
    main()
