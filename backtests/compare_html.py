"""The comparison as one self-contained HTML page: it opens offline, from a mail attachment or a
USB stick, because nothing in it points outside the file.

Charts are drawn with matplotlib on bare Agg canvases (no display, no pyplot state) and embedded as
base64 PNG data URIs; the style sheet is inline; there is no script. The page holds, in order: the
metrics table (one column per strategy and the benchmark, formatted as the terminal prints it),
overlaid equity curves with their drawdowns, monthly return heatmaps (one panel per run and the
benchmark, one shared colour scale), and with a window kind the event study, the distribution of
window returns, the per-window returns side by side and the playbook's claims.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from backtests.files import write_atomically
from backtests.metrics import drawdown_series, format_value

if TYPE_CHECKING:
    from backtests.compare import Comparison

_FONT = {"font.family": "DejaVu Sans"}  # ships inside matplotlib, so it exists wherever matplotlib does
_BENCHMARK_COLOUR = "0.35"
# Why a windows-only run's whole-run figures are not the window figures (backtests.market.window_market)
STEPPED_NOTE = (
    "Windows-only runs are stepped through their windows (and the session before and after each): the "
    "equity curves and monthly heatmaps are the window sessions strung together, cash earning nothing "
    "across the gaps, so the metrics table has no annualised figure; its headline, like the event "
    "study, is the distribution of the window returns."
)
ANNOTATED_CELLS = 600  # monthly cells (all panels) up to which each shows its return as a number
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #1b1b1b; background: #fff; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; padding-bottom: 3px; }
h3 { font-size: 14px; margin: 16px 0 4px; }
p.meta, p.note { color: #555; font-size: 13px; margin: 3px 0; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0; }
th, td { padding: 3px 9px; border-bottom: 1px solid #e3e3e3; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; }
td.label, th.label { text-align: left; }
td.pos { color: #11691f; }
td.neg { color: #a51d1d; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
div.scroll { max-height: 640px; overflow-y: auto; display: inline-block; border: 1px solid #e3e3e3; }
"""


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _signed(value, digits: int = 2) -> tuple[str, str]:
    """A return as "+1.23%" and the cell's class (pos / neg / none)."""
    if value is None or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
        return "-", ""
    return f"{value:+.{digits}%}", ("pos" if value > 0 else "neg" if value < 0 else "")


def _figure_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(uri: str, name: str, alt: str) -> str:
    return f'<img id="{_esc(name)}" src="{uri}" alt="{_esc(alt)}">'


def _curves(comparison: Comparison) -> list[tuple[str, pd.Series, str]]:
    """(label, daily returns, colour) of each run, then of each distinct benchmark."""
    palette = matplotlib.colormaps["tab10"]
    curves = [(name, r.returns.astype(float), palette(n % 10))
              for n, (name, r) in enumerate(zip(comparison.names, comparison.results))]
    seen: list[pd.Series] = []
    for name, r in zip(comparison.names, comparison.results):
        if any(r.benchmark.equals(b) for b in seen):
            continue
        seen.append(r.benchmark)
        label = "benchmark" if len(seen) == 1 else f"benchmark ({name})"
        curves.append((label, r.benchmark.astype(float), _BENCHMARK_COLOUR))
    if len(seen) > 1:  # several benchmarks: rename the first too, so every label says whose it is
        first = comparison.names[0]
        curves = [(f"benchmark ({first})" if label == "benchmark" else label, s, c) for label, s, c in curves]
    return curves


def equity_chart(comparison: Comparison) -> str:
    """Growth of 1 of every run and the benchmark, overlaid, above their drawdowns; a PNG data URI."""
    with matplotlib.rc_context(_FONT):
        figure = Figure(figsize=(12, 7), layout="constrained")
        FigureCanvasAgg(figure)
        grid = figure.add_gridspec(2, 1, height_ratios=(3, 1.3))
        top = figure.add_subplot(grid[0])
        bottom = figure.add_subplot(grid[1], sharex=top)
        for label, daily, colour in _curves(comparison):
            style = {"color": colour, "linewidth": 1.1}
            if label.startswith("benchmark"):
                style.update(linestyle="--", linewidth=1.0)
            top.plot((1.0 + daily).cumprod(), label=label, **style)
            bottom.plot(drawdown_series(daily), **style)
        top.axhline(1.0, color="0.7", linewidth=0.8, linestyle=":")
        top.set_ylabel("growth of 1")
        top.set_title("Equity: growth of 1, each run and the benchmark")
        top.legend(loc="best", framealpha=0.85)
        top.grid(alpha=0.3)
        top.tick_params(labelbottom=False)
        bottom.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        bottom.set_ylabel("drawdown")
        bottom.grid(alpha=0.3)
        return _figure_uri(figure)


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    """Compounded return of each calendar month, years down and months across (NaN: no session).

    >>> r = pd.Series([0.1, 0.1, -0.5], index=pd.to_datetime(["2018-01-02", "2018-01-03", "2018-03-01"]))
    >>> monthly_returns(r).round(4).loc[2018, [1, 2, 3]].tolist()
    [0.21, nan, -0.5]
    """
    index = pd.DatetimeIndex(returns.index)
    grouped = (1.0 + returns.astype(float)).groupby([index.year, index.month]).prod() - 1.0
    table = grouped.unstack()
    return table.reindex(columns=range(1, 13))


def heatmap_chart(comparison: Comparison) -> str:
    """Monthly return heatmaps, one panel per run and the benchmark, two panels a row, one shared
    symmetric colour scale (so a colour means the same return in every panel); a PNG data URI."""
    panels = [(label, monthly_returns(daily)) for label, daily, _ in _curves(comparison)]
    values = np.concatenate([t.to_numpy(float).ravel() for _, t in panels])
    values = values[np.isfinite(values)]
    limit = max(float(np.quantile(np.abs(values), 0.98)) if len(values) else 0.0, 0.01)
    years = max(len(t) for _, t in panels)
    columns = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / columns)
    # numbers in the cells only while they stay legible and cheap: text layout is most of the drawing
    # time (20 years of five full-history runs is 1,200 labels), and the colours carry the pattern
    annotate = len(values) <= ANNOTATED_CELLS
    panel_inches = 0.24 * years + 0.6
    gap_inches = 0.75  # a panel's title above and its month labels below
    height = rows * panel_inches + (rows - 1) * gap_inches + 0.9
    with matplotlib.rc_context(_FONT):
        # fixed margins rather than constrained layout, which measures every cell label twice
        figure = Figure(figsize=(7.0 * columns + 1.0, height))
        FigureCanvasAgg(figure)
        figure.subplots_adjust(left=0.6 / figure.get_figwidth(), right=1 - 1.2 / figure.get_figwidth(),
                               top=1 - 0.45 / height, bottom=0.45 / height, wspace=0.12,
                               hspace=gap_inches / panel_inches)
        axes = figure.subplots(rows, columns, squeeze=False)
        norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
        image = None
        for ax, (label, table) in zip(axes.ravel(), panels):
            image = ax.imshow(table.to_numpy(float), cmap="RdYlGn", norm=norm, aspect="auto",
                              interpolation="nearest")
            ax.set_title(label)
            ax.set_xticks(range(12), _MONTHS, fontsize=7)
            ax.set_yticks(range(len(table)), [str(y) for y in table.index], fontsize=7)
            if annotate:
                for (i, j), value in np.ndenumerate(table.to_numpy(float)):
                    if math.isfinite(value):
                        ax.text(j, i, f"{value * 100:+.1f}", ha="center", va="center", fontsize=5.5,
                                color="black")
        for ax in axes.ravel()[len(panels):]:
            ax.set_visible(False)
        holder = figure.add_axes((1 - 0.9 / figure.get_figwidth(), 0.3, 0.18 / figure.get_figwidth(), 0.4))
        bar = figure.colorbar(image, cax=holder, format=PercentFormatter(1.0, 0))
        bar.set_label("monthly return")
        return _figure_uri(figure)


def window_chart(comparison: Comparison) -> str:
    """The distribution of window returns: a box per run and the benchmark with every window as a dot."""
    columns = [c for c in comparison.windows.columns if c not in ("first", "last")]
    data = [comparison.windows[c].dropna().to_numpy(float) for c in columns]
    with matplotlib.rc_context(_FONT):
        figure = Figure(figsize=(12, 4.2), layout="constrained")
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        ax.boxplot(data, showmeans=True, showfliers=False, widths=0.5)  # the dots show every window
        ax.set_xticks(range(1, len(columns) + 1), columns)
        jitter = np.random.default_rng(comparison.seed)
        for n, values in enumerate(data, start=1):
            spread = jitter.uniform(-0.12, 0.12, len(values))
            ax.scatter(n + spread, values, s=9, alpha=0.45, color="tab:blue")
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        ax.set_ylabel("window return")
        ax.set_title(f"Return of each {comparison.kind} window "
                     "(box: quartiles, line: median, triangle: mean)")
        ax.grid(alpha=0.3, axis="y")
        return _figure_uri(figure)


def metrics_html(table: pd.DataFrame) -> str:
    """The metrics table, one column per run and the benchmark, rows as backtests.metrics.ROWS."""
    head = ('<tr><th class="label">metric</th>' + "".join(f"<th>{_esc(c)}</th>" for c in table.columns)
            + "</tr>")
    body = []
    for (label, unit), row in zip(table.index, table.to_numpy(float)):
        cells = "".join(f"<td>{_esc(format_value(float(v), unit))}</td>" for v in row)
        body.append(f'<tr><td class="label" title="{_esc(unit)}">{_esc(label)}</td>{cells}</tr>')
    return f'<table id="metrics"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def summary_html(summary: pd.DataFrame) -> str:
    head = ('<tr><th class="label">returns</th><th>windows</th><th>mean</th><th>median</th><th>hit rate</th>'
            "<th>std</th><th>t-stat</th><th>95% CI of the mean</th></tr>")
    body = []
    for name, row in summary.iterrows():
        mean, klass = _signed(row["mean"])
        median, mklass = _signed(row["median"])
        t_stat = f"{row['t_stat']:.2f}" if math.isfinite(row["t_stat"]) else "-"
        ci = f"[{_signed(row['ci_low'])[0]}, {_signed(row['ci_high'])[0]}]"
        body.append(
            f'<tr><td class="label">{_esc(name)}</td><td>{int(row["windows"])}</td>'
            f'<td class="{klass}">{mean}</td><td class="{mklass}">{median}</td><td>{row["hit_rate"]:.1%}</td>'
            f'<td>{row["std"]:.2%}</td><td>{t_stat}</td><td>{ci}</td></tr>')
    return f'<table id="event-study"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def windows_html(windows: pd.DataFrame) -> str:
    """The per-window returns side by side: one row per window, one column per run and the benchmark."""
    returns = [c for c in windows.columns if c not in ("first", "last")]
    head = ('<tr><th class="label">event</th><th class="label">first</th><th class="label">last</th>'
            + "".join(f"<th>{_esc(c)}</th>" for c in returns) + "</tr>")
    body = []
    for event, row in windows.iterrows():
        cells = []
        for column in returns:
            text, klass = _signed(row[column])
            cells.append(f'<td class="{klass}">{text}</td>')
        body.append(f'<tr><td class="label">{event:%Y-%m-%d}</td>'
                    f'<td class="label">{row["first"]:%Y-%m-%d}</td>'
                    f'<td class="label">{row["last"]:%Y-%m-%d}</td>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table id="windows"><thead>{head}</thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def claims_html(claims) -> str:
    """The playbook's figures beside the measured ones (backtests.windows_eval.PlaybookClaims)."""
    d = claims.december.iloc[0]
    verdict = "inside" if d["quoted_inside_ci"] else "outside"
    parts = [
        f'<p class="meta">{_esc(claims.source)} data {claims.first:%Y-%m-%d} .. {claims.last:%Y-%m-%d}; '
        + "; ".join(f"{_esc(s)} = {_esc(p)}" for s, p in claims.proxies.items()) + "</p>",
        "<h3>S&amp;P 500 over the last two weeks of December</h3>",
        '<table id="claims-december"><thead><tr><th class="label">claim</th><th>quoted</th><th>years</th>'
        "<th>mean</th><th>median</th><th>hit rate</th><th>t-stat</th><th>95% CI of the mean</th>"
        "<th>quoted vs CI</th></tr></thead><tbody>"
        f'<tr><td class="label">close on/before Dec 15 &rarr; last December close</td>'
        f"<td>{_signed(d['quoted'], 1)[0]}</td><td>{int(d['windows'])} ({d['first']:%Y}..{d['last']:%Y})</td>"
        f"<td>{_signed(d['mean'])[0]}</td><td>{_signed(d['median'])[0]}</td><td>{d['hit_rate']:.1%}</td>"
        f"<td>{d['t_stat']:.2f}</td><td>[{_signed(d['ci_low'])[0]}, {_signed(d['ci_high'])[0]}]</td>"
        f"<td>{verdict}</td></tr></tbody></table>",
        "<h3>1-5 session ranges</h3>",
        f'<p class="note">Share of h-session forward returns inside the quoted range and their actual '
        f"10th..90th percentiles: on all sessions, and per {_esc(claims.kind)} window from its entry close "
        "(the close before its first session).</p>",
        '<table id="claims-ranges"><thead><tr><th class="label">index</th><th>quoted</th><th>h</th>'
        "<th>all: inside</th><th>all: p10..p90</th><th>windows: inside</th><th>windows: p10..p90</th>"
        "</tr></thead><tbody>",
    ]
    for row in claims.ranges.itertuples(index=False):
        parts.append(
            f'<tr><td class="label">{_esc(row.index)}</td>'
            f"<td>{row.quoted_low:+.1%}..{row.quoted_high:+.1%}</td>"
            f"<td>{row.horizon}</td><td>{row.all_inside:.1%}</td>"
            f"<td>{_signed(row.all_p10)[0]}..{_signed(row.all_p90)[0]}</td><td>{row.windows_inside:.1%}</td>"
            f"<td>{_signed(row.windows_p10)[0]}..{_signed(row.windows_p90)[0]}</td></tr>")
    parts.append("</tbody></table>")
    counts = claims.scenarios.attrs.get("counts", {})
    parts += [
        "<h3>The three scenarios: quoted prior against realized regimes</h3>",
        '<p class="note">Realized regime of a session: its next 5 sessions returned above +1.0% (momentum), '
        f"below -1.5% (selloff), else range. {counts.get('all_sessions', 0)} sessions, "
        f"{counts.get('window_sessions', 0)} inside windows, {counts.get('window_entries', 0)} window "
        "entries.</p>",
        '<table id="claims-scenarios"><thead><tr><th class="label">scenario</th><th>quoted</th>'
        "<th>all sessions</th><th>window sessions</th><th>window entries</th><th>95% CI (entries)</th>"
        "</tr></thead><tbody>",
    ]
    for name, row in claims.scenarios.iterrows():
        parts.append(
            f'<tr><td class="label">{_esc(name)}</td><td>{row["quoted"]:.0%}</td>'
            f'<td>{row["all_sessions"]:.1%}</td>'
            f'<td>{row["window_sessions"]:.1%}</td><td>{row["window_entries"]:.1%}</td>'
            f'<td>[{row["entries_ci_low"]:.1%}, {row["entries_ci_high"]:.1%}]</td></tr>')
    parts.append("</tbody></table>")
    parts.extend(f'<p class="note">note: {_esc(note)}</p>' for note in claims.notes)
    return "\n".join(parts)


def render_report(comparison: Comparison, generated: datetime | None = None) -> str:
    """The whole page as one string."""
    generated = generated or datetime.now()
    names = ", ".join(comparison.names)
    title = f"{names} vs benchmark"
    window = f"{comparison.kind} windows (windows-only runs)" if comparison.kind else "full history"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title>",
        '<link rel="icon" href="data:,">',  # no favicon request: the page makes none at all
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">{_esc(comparison.data)}; {_esc(window)}; generated {generated:%Y-%m-%d %H:%M}</p>',
    ]
    for name, origin in zip(comparison.names, comparison.origins):
        parts.append(f'<p class="meta">{_esc(name)}: {_esc(origin)}</p>')
    parts.extend(f'<p class="note">note: {_esc(note)}</p>' for note in comparison.notes)
    parts += [
        "<h2>Metrics</h2>",
        '<p class="note">Daily returns; a year is 252 sessions; costs in account currency. With windows the '
        "runs hold positions only inside windows, so their figures cover the window sessions.</p>",
        metrics_html(comparison.metrics),
        f'<p class="note" id="convention">Convention: '
        f'{_esc(comparison.metrics.attrs.get("convention", ""))}</p>',
        *([f'<p class="note">{_esc(STEPPED_NOTE)}</p>'] if comparison.kind else []),
        "<h2>Equity and drawdown</h2>",
        _img(equity_chart(comparison), "equity-chart", "equity curves and drawdowns of every run"),
        "<h2>Monthly returns</h2>",
        _img(heatmap_chart(comparison), "monthly-heatmaps", "monthly return heatmaps"),
    ]
    if comparison.windows is not None:
        parts += [
            f"<h2>Event study: {_esc(comparison.kind)} windows</h2>",
            '<p class="note">Window return: close before the first session to the close after the last '
            "(positions held from the first open to the open after the last). Hit rate: share of windows "
            "above 0. t-stat: mean / (std / sqrt(windows)). CI: percentile bootstrap of the mean, "
            f"{comparison.resamples:,} resamples, seed {comparison.seed}.</p>",
            summary_html(comparison.summary),
            _img(window_chart(comparison), "window-chart", "distribution of window returns"),
            "<h2>Per window, side by side</h2>",
            windows_html(comparison.windows),
        ]
    if comparison.claims is not None:
        parts += ["<h2>The playbook's own claims</h2>", claims_html(comparison.claims)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(comparison: Comparison, path: str | os.PathLike) -> Path:
    """Write the page to `path` atomically (a temp file beside it, moved into place); return the path."""
    page = render_report(comparison)
    return write_atomically(path, lambda temp: temp.write_text(page, encoding="utf-8"))
