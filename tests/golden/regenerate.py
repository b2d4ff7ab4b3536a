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
  windows has no annualised figure, so none is stored for it;
- regime: what `cli.py regime evaluate --format json` prints (backtests.regime_eval.evaluate and
  scorecard_json: every model on every window kind, without the reliability rows), the default model,
  the reason and the selection / held-out evidence;
- twins: every check of `cli.py options benchmark --index X` (backtests.cboe_twins.benchmark_report)
  for each twin on the default span, and of the PUT twin on 2006-01-01 .. 2015-12-31;
- claims: `cli.py compare --strategies benchmark --window KIND` for year-end, santa-claus and
  triple-witching, on 1999-01-04 .. 2018-12-31 and on the whole history: the index's event study and
  the column's claims (backtests.windows_eval.load_claims).

The runs are deterministic, so tests/test_golden.py compares at rtol 1e-8. The results tables of
README.md and docs/results.md are written from the stored file by this script (between the
`<!-- golden:... -->` marker comments), as are the scorecard of docs/regime.md, the twin checks of
docs/cboe-twins.md, the claims of docs/evaluation.md and the README's checks block; the test checks
they still match it.
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
    ("docs/regime.md", "regime"),
    ("docs/cboe-twins.md", "twins"),
    ("docs/evaluation.md", "claims"),
    ("README.md", "checks"),
]
# the README's one table: full-history figures by metric label, then the mean window return per kind
README_METRICS = ("CAGR", "Excess CAGR over T-bills", "Sharpe (over T-bills)", "Max drawdown")
README_KINDS = ("triple-witching", "year-end")
BEFORE = Path(__file__).resolve().with_name("before.json")  # the figures of the code before issue 10
SAME_SPAN_CASH_RATE = 0.18 * 12.0 / 100.0  # Fama-French RF 2018-11 (0.18% a month), carried into December
REGIME_COMMAND = "python cli.py regime evaluate --format json"
PUT_SAME_SESSIONS = ("2006-01-01", "2015-12-31")  # Bondarenko 2016's PUT period, as --start/--end
PUT_SAME_SESSIONS_RUN = "put 2006-2015"
# the claims on the column's 20 years (the embedded OHLCV span) and on the whole embedded history
CLAIM_SPANS = {"1999-2018": {"start": "1999-01-04", "end": "2018-12-31"}, "1990-2022": {}}
CLAIM_KINDS = ("year-end", "santa-claus", "triple-witching")


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
    for name, section in (("regime", regime_figures), ("twins", twin_figures), ("claims", claim_figures)):
        begun = time.perf_counter()
        figures[name] = section()
        say(f"{name}: {time.perf_counter() - begun:.1f} s")
    say(f"total: {time.perf_counter() - started:.1f} s")
    return figures


def _tree(value):
    """A JSON-ready copy of nested dicts and lists: floats through _number, dates as ISO days."""
    import pandas as pd

    if isinstance(value, dict):
        return {str(k): _tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tree(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
        if isinstance(value, bool):
            return value
    if isinstance(value, int):
        return value
    return _number(value)


def regime_figures() -> dict:
    """What `cli.py regime evaluate --format json` prints (every model and window, the CLI's defaults;
    the reliability rows left out), with the default model, the reason and the selection evidence."""
    from backtests.regime_eval import PRIOR, REGIMES, evaluate, scorecard_json

    report = evaluate()
    cards: dict = {}
    for card in json.loads(scorecard_json(report)):
        card.pop("reliability", None)
        model, window = card.pop("model"), card.pop("window")
        cards.setdefault(model, {})[window] = _tree(card)

    def evidence(block: dict) -> dict:
        keys = ("sessions", "first", "last", "skill", "skill_ci", "skill_freq", "skill_freq_ci")
        return {m: _tree({k: c[k] for k in keys}) for m, c in block.items()}

    return {"command": REGIME_COMMAND, "source": report["source"], "horizon": report["horizon"],
            "prior": dict(zip(REGIMES, PRIOR)), "chosen": report["chosen"], "reason": report["reason"],
            "selection": evidence(report["selection"]), "holdout": evidence(report["holdout"]),
            "range_by_vol": _tree(report["range_by_vol"]), "cards": cards}


def _twin_report(report) -> dict:
    def figure(value):
        return None if value is None else _number(value)

    return {
        "first": f"{report.first:%Y-%m-%d}", "last": f"{report.last:%Y-%m-%d}", "rolls": report.rolls,
        "cash_rate": _number(report.cash_rate),
        "figures": {name: {k: _number(f[k]) for k in ("cagr", "volatility", "max_drawdown", "sharpe")}
                    for name, f in report.figures.items()},
        "checks": {check.rule.measure: {"label": check.rule.label, "value": _number(check.value),
                                        "published": figure(check.rule.published),
                                        "low": figure(check.rule.low), "high": figure(check.rule.high),
                                        "status": check.status}
                   for check in report.checks},
        "vix_gaps": {str(year): _number(gap) for year, gap in
                     (report.vix_gaps.items() if report.vix_gaps is not None else ())},
    }


def twin_figures() -> dict:
    """`cli.py options benchmark --index X` for every twin on the default span, and the PUT twin on
    the published 2006-2015 sessions (`--start 2006-01-01 --end 2015-12-31`)."""
    import pandas as pd

    from backtests.cboe_twins import INDICES, benchmark_report, twin_market

    market = twin_market()
    runs = {index: _twin_report(benchmark_report(index, market)) for index in INDICES}
    start, end = (pd.Timestamp(day) for day in PUT_SAME_SESSIONS)
    runs[PUT_SAME_SESSIONS_RUN] = _twin_report(benchmark_report("put", twin_market(start, end)))
    return {"command": "python cli.py options benchmark --index NAME", "runs": runs}


def claim_figures() -> dict:
    """`cli.py compare --strategies benchmark --window KIND [--start .. --end ..]` for each claims
    kind on each span: the benchmark's event study and the column's claims (load_claims)."""
    from backtests.compare import build_comparison, run_strategies, shared_spec
    from backtests.windows_eval import RESAMPLES, load_claims

    spans: dict = {}
    for label, dates in CLAIM_SPANS.items():
        kinds: dict = {}
        for kind in CLAIM_KINDS:
            spec = shared_spec(["benchmark"], {**dates, "window": kind})
            results, market = run_strategies(["benchmark"], spec, show_progress=False)
            claims = load_claims(spec, kind, seed=0)
            comparison = build_comparison(results, kind, [market.windows], market.regime, claims,
                                          show_progress=False)
            ranges: dict = {}
            for row in claims.ranges.to_dict(orient="records"):
                index = ranges.setdefault(row["index"], {"quoted": [row["quoted_low"], row["quoted_high"]],
                                                          "horizons": {}})
                index["horizons"][str(row["horizon"])] = {k: v for k, v in row.items()
                                                          if k.startswith(("all_", "windows_"))}
            kinds[kind] = _tree({
                "windows": len(market.windows),
                "event_study": {name: comparison.summary.loc[name].to_dict()
                                for name in comparison.summary.index},
                "ranges": ranges,
                "scenarios": claims.scenarios.to_dict(orient="index"),
                "scenario_counts": claims.scenarios.attrs.get("counts", {}),
            })
        spans[label] = {**_tree({"start": dates.get("start"), "end": dates.get("end"),
                                 "first": claims.first, "last": claims.last,
                                 "december": claims.december.iloc[0].to_dict(),
                                 "notes": list(claims.notes)}), "kinds": kinds}
    return {"command": "python cli.py compare --strategies benchmark --window KIND [--start 1999-01-04 "
                       "--end 2018-12-31]", "bootstrap": {"resamples": RESAMPLES, "seed": 0}, "spans": spans}


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
    """{"a/b/c": leaf} for every leaf of nested dicts (and lists: "a/0").

    >>> flatten({"full": {"runs": {"neutral": {"Sharpe": 0.5}}}, "command": "x", "ci": [-0.1, 0.2]})
    {'full/runs/neutral/Sharpe': 0.5, 'command': 'x', 'ci/0': -0.1, 'ci/1': 0.2}
    """
    out = {}
    items = enumerate(tree) if isinstance(tree, list) else tree.items()
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, (dict, list)):  # a list's items are figures too (a CI's two ends)
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
        return _pct(value, signed=False)

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


def _section(figures: dict, *path: str):
    """figures[path[0]][path[1]]...; a KeyError naming the whole path and what is there instead, so
    that a renamed field of the CLI's output says which renderer line to change."""
    node = figures
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            have = list(node) if isinstance(node, dict) else type(node).__name__
            raise KeyError(f"tests/golden/figures.json has no {'/'.join(path[:depth + 1])}; there: {have}")
        node = node[key]
    return node


def _table(head: list[str], align: str, rows: list[list[str]]) -> list[str]:
    """A markdown table: `align` one character a column, "l" or "r"."""
    rule = "|" + "".join("---:|" if a == "r" else "---|" for a in align)
    return ["| " + " | ".join(head) + " |", rule, *("| " + " | ".join(row) + " |" for row in rows)]


def _skill(value, ci, digits: int = 3) -> str:
    return f"{_float(value):+.{digits}f} [{_float(ci[0]):+.{digits}f}, {_float(ci[1]):+.{digits}f}]"


def _cards(figures: dict) -> dict:
    return _section(figures, "regime", "cards")


def regime_span(figures: dict) -> str:
    """The years the scorecard scored: "1992-2022"."""
    every = [c for by_window in _cards(figures).values() for c in by_window.values()]
    return f"{min(c['first'] for c in every)[:4]}-{max(c['last'] for c in every)[:4]}"


def render_regime(figures: dict) -> str:
    """docs/regime.md: the realized scenario shares beside the prior, the scorecard of every model and
    window, the default model and why (`cli.py regime evaluate --format json`)."""
    regime, cards = _section(figures, "regime"), _cards(figures)
    prior, chosen = _section(figures, "regime", "prior"), _section(figures, "regime", "chosen")
    every = [card for by_window in cards.values() for card in by_window.values()]
    horizon = regime["horizon"]
    lines = [f"{regime['source']} data, scored sessions {min(c['first'] for c in every)} .. "
             f"{max(c['last'] for c in every)}, every {horizon}th session (non-overlapping {horizon}-session "
             f"horizons); `{regime['command']}`.", ""]
    shares = [["the column's prior", "", *(f"{v:.2f}" for v in prior.values())]]
    shares += [[window, str(card["sessions"]), *(f"{_float(card['label_shares'][r]):.2f}" for r in prior)]
               for window, card in next(iter(cards.values())).items()]
    lines += _table(["window", "sessions", *prior], "lr" + "r" * len(prior), shares)
    by_vol = regime.get("range_by_vol")
    if by_vol:  # None when fewer than 50 sessions were scored
        lines += ["", "Share of range by quintile of the realized vol at the close, low to high (all scored "
                  "sessions): scenario label **" + " ".join(f"{_float(v):.2f}" for v in by_vol["scenario"])
                  + "**; the raw 5-session return label (above +1.0% / below -1.5%) "
                  + " ".join(f"{_float(v):.2f}" for v in by_vol["raw_return"]) + "."]
    rows = []
    for model, by_window in cards.items():
        for window, c in by_window.items():
            rows.append([f"**{model}**" if model == chosen else model, window, str(c["sessions"]),
                         f"{_float(c['brier']):.4f}", f"{_float(c['brier_prior']):.4f}",
                         _skill(c["skill"], c["skill_ci"]), _skill(c["skill_freq"], c["skill_freq_ci"]),
                         f"{_float(c['log_loss']):.3f} ({_float(c['log_loss_prior']):.3f})",
                         f"{_float(c['hit_rate']):.3f} ({_float(c['hit_rate_prior']):.3f})"])
    head = ["model", "window", "sessions", "Brier", "prior's", "skill vs prior [90% CI]",
            "skill vs frequencies known then [90% CI]", "log loss (prior's)", "hit (prior's)"]
    lines += [""] + _table(head, "llrrrllll", rows)
    hold = _section(figures, "regime", "holdout")
    held = ", ".join(f"{m} {_skill(c['skill'], c['skill_ci'])}" for m, c in hold.items() if m != "prior")
    some = next(iter(hold.values()))
    lines += ["", f"**Default: `{chosen}`**, {regime['reason']}. On the held-out years ({some['first']} .. "
              f"{some['last']}, {some['sessions']} sessions, not used for the choice), skill vs prior: "
              f"{held}."]
    return "\n".join(lines)


SHORT = {"vol_ratio": "vol", "return_gap": "return gap", "drawdown_ratio": "drawdown",
         "cagr": "return", "benchmark_cagr": "S&P 500 leg", "iv_ratio": "proxy VIX / realised vol"}
PERIOD_MEASURES = ("cagr", "benchmark_cagr")  # judged on the same-session run, not the whole span
SHARED_MEASURES = ("iv_ratio",)  # a property of the option market, the same for every twin: shown once


def _check_cell(check: dict, value) -> str:
    """A twin check's figure as `cli.py options benchmark` prints it (backtests.cboe_twins)."""
    if value is None:
        return "-"
    if check["measure"] == "return_gap":
        return f"{value * 100:+.2f} pp"
    if check["measure"] in PERIOD_MEASURES:
        return f"{value:.2%}"
    if check["measure"] == "vix_gap":
        return f"{value:+.1f}"
    return f"{value:.2f}"


def _check_band(check: dict) -> str:
    low, high = check["low"], check["high"]
    if low is None and high is None:
        return "-"
    if low is None:
        return f"below {_check_cell(check, high)}"
    return f"{_check_cell(check, low)} to {_check_cell(check, high)}"


def _checks(run: dict) -> dict:
    """A twin run's checks by measure, each carrying its measure's name."""
    return {measure: {**check, "measure": measure} for measure, check in run["checks"].items()}


def render_twins(figures: dict) -> str:
    """docs/cboe-twins.md: every check of every twin (`cli.py options benchmark --index X`), on the
    default span and the PUT on the 2006-2015 sessions, with the twins' CAGRs."""
    runs = _section(figures, "twins", "runs")
    rows = []
    for name, run in runs.items():
        f = run["figures"]
        head = [f"**{name.upper()}**, {run['first']} .. {run['last']}",
                f"{_float(f['twin']['cagr']):.1%} ({_float(f['twin with costs']['cagr']):.1%}) / "
                f"{_float(f['S&P 500']['cagr']):.1%}"]
        shown = [c for c in _checks(run).values() if c["measure"] != "vix_gap"  # on its own line below
                 and (c["measure"] not in PERIOD_MEASURES or name == PUT_SAME_SESSIONS_RUN)
                 and (c["measure"] not in SHARED_MEASURES or name == next(iter(runs)))]
        for n, check in enumerate(shown):
            rows.append((head if n == 0 else ["", ""]) + [
                check["label"], _check_cell(check, check["value"]), _check_cell(check, check["published"]),
                _check_band(check), check["status"]])
    lines = _table(["twin, sessions", "CAGR: twin (with costs) / S&P 500", "check", "twin", "published",
                    "band", "status"], "lllrrll", rows)
    gaps = next(iter(runs.values()))["vix_gaps"]
    gaps = ", ".join(f"{year} {_float(gap):+.1f}" for year, gap in gaps.items())
    start, end = PUT_SAME_SESSIONS
    lines += ["", f"Twins without costs judged, as Cboe's indices carry none; `python cli.py options "
              f"benchmark --index NAME` (and `--index put --start {start} --end {end}`). The proxy's "
              f"VIX-equivalent minus the published VIX average, by year (VIX points, information): {gaps}."]
    return "\n".join(lines)


def _event(row: dict) -> str:
    return (f"{int(row['windows'])}: {_pct(row['mean'])} [{_pct(row['ci_low'])}, {_pct(row['ci_high'])}], "
            f"hit {_pct(row['hit_rate'], False)}")


def _share_ci(row: dict, count: int) -> str:
    return (f"{_pct(row['window_entries'], False)} [{_pct(row['entries_ci_low'], False)}, "
            f"{_pct(row['entries_ci_high'], False)}] of {count}")


def render_claims(figures: dict) -> str:
    """docs/evaluation.md: the column's claims on 1999-2018 beside the whole 1990-2022 history."""
    spans = _section(figures, "claims", "spans")
    labels = list(spans)
    first = spans[labels[0]]

    def kind(span, name):
        return _section(span, "kinds", name)

    def index_row(span, name):
        return _section(kind(span, name), "event_study", "benchmark (index)")

    def horizons(span, index, of="year-end"):
        return _section(kind(span, of), "ranges", index, "horizons")

    def quoted(index):
        low, high = _section(kind(first, "year-end"), "ranges", index, "quoted")
        return f"{low:+.1%}..{high:+.1%}"

    def inside(span, index):
        h = horizons(span, index)
        return f"{_pct(h['1']['all_inside'], False)} / {_pct(h['5']['all_inside'], False)}"

    def scenarios(span, of="year-end"):
        return _section(kind(span, of), "scenarios")

    def dec(span):
        return _section(span, "december")

    def hits(d):
        return f"{round(_float(d['hit_rate']) * d['windows'])} of {int(d['windows'])}"

    def spread(h):
        return f"{_pct(h['all_p10'])}..{_pct(h['all_p90'])}"

    def selloff(span):
        row = _section(scenarios(span), "selloff")
        return _share_ci(row, kind(span, "year-end")["scenario_counts"]["window_entries"])

    claims = [
        ("last two weeks of December: years",
         lambda s: f"{int(dec(s)['windows'])} ({dec(s)['first'][:4]}-{dec(s)['last'][:4]})"),
        (f"mean (quoted {_pct(dec(first)['quoted'])})", lambda s: _pct(dec(s)["mean"])),
        ("median", lambda s: _pct(dec(s)["median"])),
        ("hit rate", lambda s: f"{_pct(dec(s)['hit_rate'], False)} ({hits(dec(s))})"),
        ("t-stat", lambda s: f"{_float(dec(s)['t_stat']):.2f}"),
        ("95% CI of the mean", lambda s: f"[{_pct(dec(s)['ci_low'])}, {_pct(dec(s)['ci_high'])}]"),
        ("quoted mean inside the CI", lambda s: "yes" if dec(s)["quoted_inside_ci"] else "**no**"),
        *((f"{what} window, index: windows: mean [95% CI], hit rate",
           lambda s, n=name: _event(index_row(s, n)))
          for name, what in (("year-end", "year-end"), ("santa-claus", "Santa Claus"),
                             ("triple-witching", "triple-witching"))),
        (f"S&P 500 inside {quoted('S&P 500')}, all sessions, 1 / 5 sessions ahead",
         lambda s: inside(s, "S&P 500")),
        ("S&P 500 5-session 10th..90th percentile",
         lambda s: spread(horizons(s, "S&P 500")["5"])),
        (f"Nasdaq-100 inside {quoted('Nasdaq-100')}, 1 / 5 sessions ahead",
         lambda s: inside(s, "Nasdaq-100")),
        ("realized scenarios, all sessions (quoted "
         + "/".join(f"{_float(v['quoted']) * 100:.0f}" for v in scenarios(first).values()) + ")",
         lambda s: " / ".join(f"{_float(v['all_sessions']) * 100:.1f}" for v in scenarios(s).values()) + "%"),
        ("a sell-off after a year-end entry [95% CI]", selloff),
    ]
    lines = _table(["claim (S&P 500 proxy)", *(f"{spans[label]['first']} .. {spans[label]['last']}"
                                              for label in labels)], "l" * (1 + len(labels)),
                   [[name, *(cell(spans[label]) for label in labels)] for name, cell in claims])
    rows = []
    for index in _section(kind(first, "year-end"), "ranges"):
        for h in horizons(first, index):
            cells = [f"{index} {quoted(index)}", h]
            for label in labels:
                every = horizons(spans[label], index)[h]
                tw = horizons(spans[label], index, "triple-witching")[h]
                cells += [_pct(every["all_inside"], False), spread(every), _pct(tw["windows_inside"], False)]
            rows.append(cells)
    head = [f"{label}: inside, all sessions | p10..p90 | inside, from triple-witching entries"
            for label in labels]
    lines += [""] + _table(["index, quoted range", "h", *head], "lr" + "rlr" * len(labels), rows)
    rows = []
    for scenario, row in scenarios(first).items():
        cells = [scenario, f"{_float(row['quoted']):.0%}"]
        for label in labels:
            span = spans[label]
            cells.append(_pct(_section(scenarios(span), scenario, "all_sessions"), False))
            cells += [_share_ci(_section(scenarios(span, of), scenario),
                                kind(span, of)["scenario_counts"]["window_entries"])
                      for of in ("triple-witching", "year-end")]
        rows.append(cells)
    head = [f"{label}: all sessions | at triple-witching entries [95% CI] | at year-end entries [95% CI]"
            for label in labels]
    lines += [""] + _table(["scenario (realized regime, next 5 sessions)", "quoted", *head],
                           "lr" + "rll" * len(labels), rows)
    notes = sorted({note for label in labels for note in spans[label]["notes"]})
    boot = _section(figures, "claims", "bootstrap")
    lines += ["", f"Bootstrap CIs: {boot['resamples']:,} resamples, seed {boot['seed']}. "
              f"`{_section(figures, 'claims', 'command')}`." + "".join(f" Note: {note}." for note in notes)]
    return "\n".join(lines)


def _twin_shown(name: str, check: dict) -> bool:
    """Whether a check belongs in a twin's README row: judged (PASS/MISS), not a shared measure, and
    a same-session figure only in the same-session run."""
    if check["status"] not in ("PASS", "MISS") or check["measure"] in SHARED_MEASURES:
        return False
    return (check["measure"] in PERIOD_MEASURES) == (name == PUT_SAME_SESSIONS_RUN)


def _short(check: dict, value: float) -> str:
    """A band's end, short: 0.6, 1, -4.5 (percentage points for a return gap), 5.09%."""
    if check["measure"] == "return_gap":
        return f"{value * 100:+.3g}"
    if check["measure"] in PERIOD_MEASURES:
        return f"{value:.2%}"
    return f"{value:.3g}"


def _published(check: dict) -> str:
    """The published figure and its band, short: "6.59% ±1.5 pp", "0.70 (0.6..0.8)", "<1", "±2.5 pp"."""
    low, high, published = check["low"], check["high"], check["published"]
    unit = " pp" if check["measure"] == "return_gap" else ""
    if low is None:
        band = f"<{_short(check, high)}"
    elif published is not None and check["measure"] in PERIOD_MEASURES \
            and abs((high - published) - (published - low)) < 1e-9:
        return f"{_check_cell(check, published)} ±{(high - published) * 100:.1f} pp"
    elif unit and abs(low + high) < 1e-12:
        band = f"±{high * 100:.3g}{unit}"
    else:
        band = f"{_short(check, low)}..{_short(check, high)}{unit}"
    return f"{_check_cell(check, published)} ({band})" if published is not None else band


def render_checks(figures: dict) -> str:
    """README.md, one line each: the default regime model's skill per window, the judged checks of
    each Cboe twin, the December claim on 20 and on 32 years."""
    chosen = _section(figures, "regime", "chosen")
    cards = _section(figures, "regime", "cards", chosen)
    rows = []
    for window, c in cards.items():
        skill = f"{_skill(c['skill'], c['skill_ci'], 2)} / {_float(c['skill_freq']):+.2f}"
        rows.append([f"`{chosen}`, {window}", skill, "> 0"])
    runs = _section(figures, "twins", "runs")
    for name, run in runs.items():
        shown = [c for c in _checks(run).values() if _twin_shown(name, c)]
        if shown:
            rows.append([f"{name.upper()} " + "; ".join(SHORT.get(c["measure"], c["label"]) for c in shown),
                         "; ".join(f"{_check_cell(c, c['value'])} {c['status']}" for c in shown),
                         "; ".join(_published(c) for c in shown)])
    shared = [c for c in _checks(next(iter(runs.values()))).values() if c["measure"] in SHARED_MEASURES]
    rows += [[SHORT.get(c["measure"], c["label"]), f"{_check_cell(c, c['value'])} {c['status']}",
              _published(c)] for c in shared]
    decs = [_section(span, "december") for span in _section(figures, "claims", "spans").values()]
    rows.append([f"December rally, {' / '.join(str(int(d['windows'])) for d in decs)} years",
                 " / ".join(f"{_pct(d['mean'])} [{_float(d['ci_low']) * 100:+.2f}, {_pct(d['ci_high'])}]"
                            for d in decs), _pct(decs[0]["quoted"])])
    lines = _table(["check", "ours", "published (band)"], "lll", rows)
    lines += ["", f"`{chosen}`, the playbook's model: skill vs 35/45/20 [90% CI] / vs base rates then, "
              f"{regime_span(figures)}. Twins: no costs."]
    return "\n".join(lines)


RENDERERS = {"readme": render_readme, "results": render_results, "before-after": render_before_after,
             "regime": render_regime, "twins": render_twins, "claims": render_claims, "checks": render_checks}


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
