"""A compare report: several strategies on the same prepared data, one self-contained HTML page
(metrics table, equity curves, drawdowns, monthly heatmaps, and with a window kind the event study,
per-window returns and the column's claims).

    python examples/compare_report.py --out results/compare-tw          # triple witching, all the history
    python examples/compare_report.py --window year-end --start 2012-01-03 --out /tmp/ye

What `cli.py compare --strategies ... --window ...` runs; open OUT/compare.html in a browser.
"""

import argparse

from backtests.compare import compare


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", default="momentum,neutral,defensive,playbook")
    parser.add_argument("--window", default="triple-witching",
                        help="triple-witching | year-end | santa-claus | monthly-expiry | full")
    parser.add_argument("--start", help="first session, YYYY-MM-DD [the data's first]")
    parser.add_argument("--end", help="last session, YYYY-MM-DD [the data's last]")
    parser.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    args = parser.parse_args(argv)

    window = None if args.window == "full" else args.window
    settings = {"start": args.start, "end": args.end, "window": window}
    outcome = compare(strategies=args.strategies, settings=settings, out=args.out, show_progress=False)
    print(outcome.text)
    print(f"report: {outcome.report}")


if __name__ == "__main__":
    main()
