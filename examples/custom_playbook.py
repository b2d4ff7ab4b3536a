"""Your own playbook from Python, touching no repository file: the Tilt playbook of the API page.

    python examples/custom_playbook.py                            # 2005-2012, the embedded history
    python examples/custom_playbook.py --out /tmp/tilt            # and write the run's files

60% QQQ / 40% SPY while QQQ closes above its 50-session mean, else all SPY, under a 5% trailing stop
and with the default costs; compared with the built-in momentum playbook on the same market.
"""

import argparse

from backtests import compare, prepare_market, run
from strategies import Playbook, RiskConfig, StopRule, Target


class Tilt(Playbook):
    """60% QQQ / 40% SPY while QQQ closes above its 50-session mean, else all SPY."""

    symbols = ("SPY", "QQQ")

    def target(self, view):
        qqq = view.history("QQQ", 50)  # closes up to and including today, never later
        if view.close["QQQ"] > qqq.mean():
            return Target({"QQQ": 0.6, "SPY": 0.4})
        return Target({"SPY": 1.0})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", default="2005-01-03")
    parser.add_argument("--end", default="2012-12-31")
    parser.add_argument("--out", help="write the Tilt run's files here (returns.csv, run.json, ...)")
    args = parser.parse_args(argv)

    market = prepare_market(source="embedded", start=args.start, end=args.end)
    result = run(Tilt(), market, risk=RiskConfig(stops=(StopRule("trailing", 0.05),)))
    print(f"tilt: CAGR {result.metrics['cagr']:.2%}, Sharpe {result.metrics['sharpe']:.2f}, "
          f"max drawdown {result.metrics['max_drawdown']:.2%}, {len(result.trades)} trades")
    print(compare([result, "momentum"], market).to_string())
    if args.out:
        print(f"files written to {result.save(args.out)}")
    return result


if __name__ == "__main__":
    main()
