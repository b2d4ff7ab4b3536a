"""The golden figures: every built-in strategy's headline metrics, stored once, checked by a test.

    python tests/golden/regenerate.py            # recompute, print the diff, rewrite the file and tables
    python tests/golden/regenerate.py --check    # recompute and print the diff; exit 1 if anything moved

What is stored (tests/golden/figures.json), all on the embedded data with default parameters and
risk rules, exactly as `cli.py backtest` / `cli.py compare` run them:

- full history: the whole metrics table (backtests.metrics.metrics_table) of every strategy and of the
  buy-and-hold index;
- each window kind (backtests.market.WINDOW_CHOICES minus "full"), 5 sessions either side: the
  event-study figures (backtests.windows_eval.event_summary) of every strategy's windows-only run, of
  the index over the same windows and of each strategy's excess over it. A run made of disjoint
  windows has no annualised figure, so none is stored for it.

The runs are deterministic, so tests/test_golden.py compares at rtol 1e-8. The results tables of
README.md and docs/results.md are written from the stored file by this script (between the
`<!-- golden:... -->` marker comments), and the test checks they still match it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = Path(__file__).resolve().with_name("figures.json")
STRATEGIES = ("momentum", "neutral", "defensive", "playbook", "benchmark")
INDEX = "index (buy and hold)"
RTOL = 1e-8
ATOL = 1e-12  # for figures that are exactly zero
TABLES = [  # (file, marker name of a renderer below)
    ("README.md", "readme"),
    ("README.md", "before-after"),
    ("docs/results.md", "results"),
    ("docs/results.md", "before-after"),
]
# the README's one table: full-history figures by metric label, then the mean window return per kind
README_METRICS = ("CAGR", "Excess CAGR over T-bills", "Sharpe (over T-bills)", "Max drawdown")
README_KINDS = ("triple-witching", "year-end")
BEFORE = Path(__file__).resolve().with_name("before.json")  # the figures of the code before issue 10
SAME_SPAN_CASH_RATE = 0.18 * 12.0 / 100.0  # Fama-French RF 2018-11 (0.18% a month), carried into December


def compute(progress=None) -> dict:
    """Run every strategy on the full history and on each window kind; return the figures."""
    if str(ROOT) not in sys.path:  # run as a script from anywhere: the project's modules first
        sys.path.insert(0, str(ROOT))
    from backtests.compare import run_strategies
    from backtests.market import WINDOW_CHOICES, MarketSpec
    from backtests.metrics import metrics_table
    from backtests.windows_eval import RESAMPLES, event_summary, window_table

    say = progress or (lambda text: None)
    figures: dict = {"about": __doc__.split("\n\n")[0].strip(),
                     "command": "python tests/golden/regenerate.py",
                     "tolerance": {"rtol": RTOL, "atol": ATOL}}
    started = time.perf_counter()
    results, market = run_strategies(STRATEGIES, MarketSpec(), show_progress=False)
    sessions = results[0].returns.index
    figures["data"] = {"source": market.spec.source, "first": f"{sessions[0]:%Y-%m-%d}",
                       "last": f"{sessions[-1]:%Y-%m-%d}", "sessions": len(sessions),
                       "data_hash": market.data_hash}
    # include_benchmark=False: the "benchmark" strategy would otherwise share its column name with
    # the index series metrics_table adds; the index is taken apart, from the first run
    table = metrics_table(results, include_benchmark=False)
    index = metrics_table(results[0])["benchmark"]
    figures["full"] = {
        "units": {label: unit for label, unit in table.index},
        "runs": {**{name: _column(table[name]) for name in table.columns}, INDEX: _column(index)},
    }
    say(f"full history: {time.perf_counter() - started:.1f} s")
    # the span the figures before issues 10, 11 and 13 were measured on (tests/golden/before.json):
    # to 2018-12-31, December 2018 at November's T-bill rate (the named --cash-rate stand-in)
    begun = time.perf_counter()
    results, _ = run_strategies(STRATEGIES, MarketSpec(end="2018-12-31", cash_rate=SAME_SPAN_CASH_RATE),
                                show_progress=False)
    table = metrics_table(results, include_benchmark=False)
    figures["same_span"] = {"end": "2018-12-31", "cash_rate": SAME_SPAN_CASH_RATE,
                            "runs": {name: _column(table[name]) for name in table.columns}}
    say(f"full history to 2018-12-31: {time.perf_counter() - begun:.1f} s")
    figures["windows"] = {}
    for kind in WINDOW_CHOICES[1:]:
        begun = time.perf_counter()
        results, market = run_strategies(STRATEGIES, MarketSpec(window=kind), show_progress=False)
        rows: dict = {}
        for result in results:
            summary = event_summary(window_table(result, market.windows, market.regime, show_progress=False))
            rows[result.strategy] = _row(summary.loc["strategy"])
            rows[f"{result.strategy} - index"] = _row(summary.loc["excess"])
            rows.setdefault(INDEX, _row(summary.loc["benchmark"]))
        lengths = [w.sessions for w in market.windows]
        order = [*STRATEGIES, INDEX, *(f"{name} - index" for name in STRATEGIES)]
        figures["windows"][kind] = {
            "before": market.spec.before, "after": market.spec.after, "windows": len(market.windows),
            "sessions_per_window": [min(lengths), max(lengths)],
            "first_event": f"{market.windows[0].event:%Y-%m-%d}",
            "last_event": f"{market.windows[-1].event:%Y-%m-%d}",
            "bootstrap": {"resamples": RESAMPLES, "seed": 0},
            "event_study": {name: rows[name] for name in order},
        }
        say(f"{kind}: {time.perf_counter() - begun:.1f} s")
    say(f"total: {time.perf_counter() - started:.1f} s")
    return figures


def _number(value):
    """A figure as JSON can hold it: NaN (a ratio with a zero denominator) as null, inf as a string."""
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _column(series) -> dict:
    return {label: _number(value) for (label, _), value in series.items()}


def _row(row) -> dict:
    out = {key: _number(value) for key, value in row.items()}
    out["windows"] = int(row["windows"])
    return out


def _float(value) -> float:
    if value is None:
        return math.nan
    return float(value)


def flatten(tree, prefix: str = "") -> dict:
    """{"a/b/c": leaf} for every leaf of nested dicts.

    >>> flatten({"full": {"runs": {"neutral": {"Sharpe": 0.5}}}, "command": "x"})
    {'full/runs/neutral/Sharpe': 0.5, 'command': 'x'}
    """
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "/"))
        else:
            out[path] = value
    return out


def same(old, new, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Whether two stored leaves agree: numbers within |new - old| <= atol + rtol * |old| (null = NaN
    equals null), anything else exactly.

    >>> same(1.0, 1.0 + 1e-10), same(1.0, 1.001), same(None, None), same("inf", "inf"), same(None, 0.0)
    (True, False, True, True, False)
    """
    numeric = (int, float, type(None))
    if isinstance(old, numeric) and isinstance(new, numeric) and not isinstance(old, bool):
        a, b = _float(old), _float(new)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(b - a) <= atol + rtol * abs(a)
    return old == new


def diff(old: dict, new: dict, rtol: float = RTOL, atol: float = ATOL) -> list[str]:
    """One line per stored figure that moved beyond the tolerance, appeared or disappeared.

    >>> diff({"x": {"a": 1.0, "b": 2.0}}, {"x": {"a": 1.5, "c": 3.0}})
    ['x/a: 1.0 -> 1.5 (+50%)', 'x/b: 2.0 -> (gone)', 'x/c: (new) -> 3.0']
    """
    before, after = flatten(old), flatten(new)
    lines = []
    for key in list(before) + [k for k in after if k not in before]:
        if key not in after:
            lines.append(f"{key}: {before[key]!r} -> (gone)")
        elif key not in before:
            lines.append(f"{key}: (new) -> {after[key]!r}")
        elif not same(before[key], after[key], rtol, atol):
            a, b = before[key], after[key]
            change = ""
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a:
                relative = (b - a) / abs(a)
                change = f" ({relative:+.2g})" if abs(relative) < 0.01 else f" ({relative:+.0%})"
            lines.append(f"{key}: {a!r} -> {b!r}{change}")
    return lines


# --- the tables written into the docs ---


def _fmt(value, unit: str) -> str:
    """A stored figure as the terminal prints it (backtests.metrics.format_value)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from backtests.metrics import format_value

    return format_value(_float(value) if not isinstance(value, str) else float(value), unit)


def _pct(value, signed: bool = True) -> str:
    value = _float(value)
    if not math.isfinite(value):
        return "-"
    return f"{value:+.2%}" if signed else f"{value:.1%}"


def _data_line(figures: dict) -> str:
    d = figures["data"]
    return (f"{d['source']} data, {d['first']} .. {d['last']} ({d['sessions']:,} sessions), default "
            f"parameters and risk rules")


def _span(block: dict) -> str:
    """How long the windows of a kind are: "11 sessions each", or "7 to 10 sessions each"."""
    low, high = block["sessions_per_window"]
    return f"{low} sessions each" if low == high else f"{low} to {high} sessions each"


def render_readme(figures: dict) -> str:
    """The README's table: one row per strategy; full-history figures, then the mean window return."""
    units = figures["full"]["units"]
    missing = [label for label in README_METRICS if label not in units]
    if missing:  # the metrics table was changed: say which README column to rename, don't guess
        raise KeyError(f"README_METRICS names {missing}, which the metrics table no longer has; "
                       f"it has {list(units)}")
    head = ["strategy", *(f"{label}" for label in README_METRICS),
            *(f"mean {kind} window" for kind in README_KINDS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in (*STRATEGIES, INDEX):
        run = figures["full"]["runs"][name]
        cells = [f"`{name}`" if name != INDEX else name,
                 *(_fmt(run[label], units[label]) for label in README_METRICS)]
        cells += [_pct(figures["windows"][kind]["event_study"][name]["mean"]) for kind in README_KINDS]
        lines.append("| " + " | ".join(cells) + " |")
    windows = "; ".join(f"{figures['windows'][k]['windows']} {k} windows, {_span(figures['windows'][k])}"
                        for k in README_KINDS)
    lines.append("")
    lines.append(f"{_data_line(figures)}. Full-history columns as `cli.py backtest` prints them; the window "
                 f"columns are the mean return per window of a windows-only run ({windows}), from the close "
                 f"before a window to the close after it, not annualised. "
                 f"Generated from `tests/golden/figures.json` by `python tests/golden/regenerate.py`; "
                 f"every figure and every window kind: [docs/results.md](docs/results.md).")
    return "\n".join(lines)


def render_results(figures: dict) -> str:
    """docs/results.md: the whole full-history metrics table, then one event-study table per kind."""
    units = figures["full"]["units"]
    runs = figures["full"]["runs"]
    names = [*STRATEGIES, INDEX]
    lines = ["## Full history", "", f"{_data_line(figures)}; the metrics table of `cli.py backtest "
             f"--strategy NAME` for each strategy (definitions: [Reports](reports.md)); the index is the "
             f"buy-and-hold S&P 500 proxy the tables call `benchmark`.", ""]
    lines.append("| metric | " + " | ".join(names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    for label, unit in units.items():
        lines.append(f"| {label} | " + " | ".join(_fmt(runs[n][label], unit) for n in names) + " |")
    for kind, block in figures["windows"].items():
        lines += ["", f"## {kind} windows", ""]
        lines.append(
            f"{block['windows']} windows, events {block['first_event']} .. {block['last_event']}, "
            f"{_span(block)}; each strategy run "
            f"windows-only (`cli.py backtest --strategy NAME --window {kind}`). Window return = close "
            f"before the first session to close after the last, not annualised; hit rate = share of "
            f"windows above 0; t-stat = mean / (std / sqrt(windows)); 95% CI = percentile bootstrap of "
            f"the mean, {block['bootstrap']['resamples']:,} resamples, seed {block['bootstrap']['seed']} "
            f"([Window evaluation](evaluation.md)).")
        lines += ["", "| returns | windows | mean | median | hit rate | std | t-stat | 95% CI of the mean |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for name, row in block["event_study"].items():
            t_stat = _float(row["t_stat"])
            lines.append(
                f"| {name} | {row['windows']} | {_pct(row['mean'])} | {_pct(row['median'])} | "
                f"{_pct(row['hit_rate'], False)} | {_pct(row['std']).lstrip('+')} | "
                f"{f'{t_stat:.2f}' if math.isfinite(t_stat) else '-'} | "
                f"[{_pct(row['ci_low'])}, {_pct(row['ci_high'])}] |")
    return "\n".join(lines)


def render_before_after(figures: dict) -> str:
    """Before -> after of each built-in playbook on the same span (1999-01-04 .. 2018-12-31): the code
    before issues 10, 11 and 13 (tests/golden/before.json, a record) against today's (figures.json)."""
    before = json.loads(BEFORE.read_text())
    runs = figures["same_span"]["runs"]

    def pct(value):
        return "-" if value is None else f"{value:.1%}"

    def ratio(value):
        return "-" if value is None else f"{value:.2f}"

    head = ["strategy", "CAGR", "excess CAGR over T-bills", "Sharpe over T-bills (over 0% before)",
            "max drawdown", "trades: hit rate"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in STRATEGIES:
        old, new = before["runs"][name], runs[name]
        trades_old = "-" if old["trades"] is None else f"{old['hit_rate']:.0%} of {old['trades']} trades"
        legs = [f"{kind} legs {pct(new[f'{kind.capitalize()} leg hit rate'])} of "
                f"{new[f'{kind.capitalize()} legs (closed)']:.0f}"
                for kind in ("stock", "option") if new.get(f"{kind.capitalize()} legs (closed)")]
        lines.append("| " + " | ".join([
            f"`{name}`",
            f"{pct(old['cagr'])} → {pct(new['CAGR'])}",
            f"{pct(old['excess_cagr'])} → {pct(new['Excess CAGR over T-bills'])}",
            f"{ratio(old['sharpe_tbills'])} ({ratio(old['sharpe_zero'])}) → "
            f"{ratio(new['Sharpe (over T-bills)'])}",
            f"{pct(old['max_drawdown'])} → {pct(new['Max drawdown'])}",
            f"{trades_old} → {'; '.join(legs) or '-'}",
        ]) + " |")
    lines.append("")
    lines.append(f"Both on the embedded data, 1999-01-04 .. 2018-12-31; after: December 2018 at November's "
                 f"T-bill rate ({figures['same_span']['cash_rate']:.2%}, `--cash-rate`). Before: "
                 f"{before['how']}. Before, a trade was an option fragment or a stock round trip; after, "
                 "a closed leg round trip (docs/reports.md).")
    return "\n".join(lines)


RENDERERS = {"readme": render_readme, "results": render_results, "before-after": render_before_after}


def markers(name: str) -> tuple[str, str]:
    return (f"<!-- golden:{name} begin: generated by python tests/golden/regenerate.py, do not edit -->",
            f"<!-- golden:{name} end -->")


def block_of(text: str, name: str) -> str:
    """The text between the `name` markers of a file (ValueError naming the marker when missing)."""
    begin, end = markers(name)
    if text.count(begin) != 1 or text.count(end) != 1:
        raise ValueError(f"expected one {begin!r} and one {end!r}")
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def with_block(text: str, name: str, body: str) -> str:
    """`text` with the block between the `name` markers replaced by `body`."""
    block_of(text, name)
    begin, end = markers(name)
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{body}\n{end}{rest.split(end, 1)[1]}"


def write_tables(figures: dict) -> list[Path]:
    """Rewrite every generated table from `figures`; returns the files that changed."""
    changed = []
    for relative, name in TABLES:
        path = ROOT / relative
        text = path.read_text()
        new = with_block(text, name, RENDERERS[name](figures))
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def load(path: Path = FIGURES) -> dict:
    return json.loads(path.read_text())


def dump(figures: dict, path: Path = FIGURES) -> None:
    path.write_text(json.dumps(figures, indent=1, allow_nan=False) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="print the diff only; exit 1 if a figure moved")
    args = parser.parse_args(argv)
    new = compute(progress=lambda text: print(f"  {text}", file=sys.stderr))
    old = load() if FIGURES.exists() else {}
    lines = diff(old, new)
    unmoved = f"no figure moved beyond rtol {RTOL:g} in {FIGURES.relative_to(ROOT)}"
    print("\n".join(lines) if lines else unmoved)
    if args.check:
        return 1 if lines else 0
    dump(new)
    for path in write_tables(new):
        print(f"rewrote the generated table in {path.relative_to(ROOT)}")
    print(f"wrote {FIGURES.relative_to(ROOT)} ({len(lines)} figures changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
