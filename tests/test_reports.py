"""backtests.reports (tearsheet, equity PNG) and backtests.outputs (a run's directory, and back).

quantstats 0.0.86 drawing under matplotlib 3.11 / seaborn 0.13.2 / pandas 3.1 emits warnings we cannot
avoid from our side; this module ignores exactly these (pytestmark), by message and origin. Its
Pandas4Warning (DataFrame.rename inplace, quantstats/reports.py:1823) is a DeprecationWarning from
quantstats, already ignored in setup.cfg.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from synthetic_runs import make_run

from backtests import outputs, reports
from backtests.errors import RunError
from backtests.metrics import performance, summary
from backtests.outputs import default_out_dir, load_run, write_run
from backtests.result import RunResult

# seaborn 0.13.2's boxplot passes vert= and its heatmap calls Colormap.set_bad, both deprecated in
# matplotlib 3.11: setup.cfg ignores those two for every test (the tearsheet draws both).
pytestmark = [
    # quantstats/_plotting/core.py:266 labels pandas' yearly bar chart with ax.set_xticklabels without
    # fixing the tick locator first; the labels it sets are right, matplotlib only warns they might not be.
    pytest.mark.filterwarnings("ignore:set_ticklabels\\(\\) should only be used:UserWarning:quantstats"),
]

ALL_FILES = {
    "returns.csv",
    "trades.csv",
    "orders.csv",
    "positions.csv",
    "packages.csv",
    "run.json",
    "equity.png",
    "tearsheet.html",
}


def tearsheet_table(page: str) -> dict[str, list[str]]:
    """quantstats' key-metrics table: {metric: [benchmark cell, strategy cell]}, plus the header row."""
    start = page.index("<table")
    table = page[start : page.index("</table>", start)]
    header = re.findall(r"<th>(.*?)</th>", table)
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", re.sub(r">\s+<", "><", table))
    return {"Metric": header[1:], **{label: [a, b] for label, a, b in rows}}


def number(cell: str) -> float:
    return float(cell.rstrip("%"))


def same_figures(left: dict, right: dict) -> bool:
    """Equal dicts of figures, where NaN equals NaN (a figure that does not apply on both sides)."""
    return left.keys() == right.keys() and all(
        left[k] == right[k] or (math.isnan(left[k]) and math.isnan(right[k])) for k in left
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One run written once with its tearsheet (the slow file), shared by the checks below."""
    run = make_run("momentum", count=400, seed=11)
    directory = tmp_path_factory.mktemp("results") / "momentum-20251219-160500"
    write_run(run, directory)
    return run, directory


# --- the tearsheet ----------------------------------------------------------------------------------


def test_tearsheet_numbers_agree_with_our_table(saved):
    run, directory = saved
    page = (directory / "tearsheet.html").read_text(encoding="utf-8")
    table = tearsheet_table(page)
    assert table["Metric"] == ["SPY", "momentum"]  # benchmark first, then the strategy
    for column, returns in ((0, run.benchmark), (1, run.returns)):
        ours = performance(returns, rf=run.risk_free)  # a constant T-bill return: one rate
        # quantstats prints percentages and ratios rounded to two decimals
        assert number(table["CAGR﹪"][column]) == pytest.approx(ours["cagr"] * 100, abs=0.0051)
        assert number(table["Cumulative Return"][column]) == pytest.approx(
            ours["total_return"] * 100, abs=0.0051
        )
        assert number(table["Volatility (ann.)"][column]) == pytest.approx(
            ours["volatility"] * 100, abs=0.0051
        )
        assert number(table["Max Drawdown"][column]) == pytest.approx(ours["max_drawdown"] * 100, abs=0.0051)
        assert number(table["Sharpe"][column]) == pytest.approx(ours["sharpe"], abs=0.0051)
        assert number(table["Sortino"][column]) == pytest.approx(ours["sortino"], abs=0.0051)
        assert number(table["Calmar"][column]) == pytest.approx(ours["calmar"], abs=0.0051)
    # every session is covered, the first one included (no date matching trimmed it)
    assert f"{run.returns.index[0]:%e %b, %Y}".strip() in page


def test_tearsheet_is_self_contained(saved):
    _, directory = saved
    page = (directory / "tearsheet.html").read_text(encoding="utf-8")
    assert "<title>momentum vs SPY</title>" in page and "<h1>momentum vs SPY (Compounded) <dt>" in page
    assert "{{" not in page  # no template slot left unfilled
    assert page.count("<svg") == 14  # every chart inline, none as a file beside the page
    # nothing the browser would fetch: no remote or relative src/href on img, script, link, use, image
    fetched = re.findall(
        r"<(?:img|script|link|iframe|source|image|use)\b[^>]*?(?:src|href)=\"([^\"]*)\"", page
    )
    assert fetched, "the check found no references at all, so it would not notice a bad one"
    outside = [ref for ref in fetched if not ref.startswith(("#", "data:"))]
    assert outside == []
    assert "qtpylib.io" not in page
    # and every in-page reference (glyphs, clip paths) points at an element that exists
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    targets = set(re.findall(r'href="#([^"]+)"', page)) | set(re.findall(r"url\(#([^)]+)\)", page))
    assert targets and targets <= ids


def test_tearsheet_has_no_font_noise_in_a_fresh_interpreter(tmp_path):
    """What a user sees on the terminal: a new Python process, default warning filters, no pytest log
    capture. quantstats would log "findfont: Font family 'Arial' not found" over a hundred times."""
    script = f"""
import matplotlib
from synthetic_runs import make_run
from backtests.reports import plot_equity, write_tearsheet
run = make_run(count=260, seed=5)
write_tearsheet(run, {str(tmp_path / "t.html")!r})
plot_equity(run, {str(tmp_path / "e.png")!r})
print(matplotlib.rcParams["font.family"])
"""
    tests = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent), str(tests)])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tests.parent, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "findfont" not in done.stderr and "Arial" not in done.stderr
    assert "Traceback" not in done.stderr
    # quantstats' import-time rcParams["font.family"] = "Arial" did not leak into the process
    assert done.stdout.split() == ["['sans-serif']"]
    assert (tmp_path / "t.html").stat().st_size > 100_000 and (tmp_path / "e.png").stat().st_size > 10_000


def test_tearsheet_refuses_constant_returns_and_misaligned_benchmark(tmp_path):
    run = make_run(count=50)
    flat = dataclasses.replace(run, returns=run.returns * 0.0)
    with pytest.raises(RunError, match="never held a position"):
        reports.write_tearsheet(flat, tmp_path / "t.html")
    short = dataclasses.replace(run, benchmark=run.benchmark.iloc[1:])
    with pytest.raises(RunError, match="49 sessions and the strategy 50"):
        reports.write_tearsheet(short, tmp_path / "t.html")
    gap = run.returns.copy()
    gap.iloc[3] = np.nan
    with pytest.raises(RunError, match="2015-01-07"):
        reports.plot_equity(dataclasses.replace(run, returns=gap), tmp_path / "e.png")
    assert list(tmp_path.iterdir()) == []


def test_tearsheet_failure_leaves_nothing(tmp_path, monkeypatch):
    qs = reports._quantstats()

    def half_written(returns, benchmark=None, output=None, **options):
        Path(output).write_text("<html><body>half", encoding="utf-8")
        raise RuntimeError("quantstats failed halfway")

    monkeypatch.setattr(qs.reports, "html", half_written)
    with pytest.raises(RuntimeError, match="halfway"):
        reports.write_tearsheet(make_run(count=30), tmp_path / "t.html")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_tearsheet_of_twenty_years(tmp_path):
    """5000 sessions, about the embedded 1999-2018 history: renders, agrees with our figures, and stays
    within a generous bound (about 5 s on this 2-core machine; 60 s means something broke)."""
    run = make_run(count=5000, seed=3, start="1999-01-04")
    reports._quantstats()  # the import (1-3 s) is not the page
    started = time.perf_counter()
    reports.write_tearsheet(run, tmp_path / "t.html")
    elapsed = time.perf_counter() - started
    table = tearsheet_table((tmp_path / "t.html").read_text(encoding="utf-8"))
    ours = performance(run.returns, rf=run.risk_free)
    assert number(table["Sharpe"][1]) == pytest.approx(ours["sharpe"], abs=0.0051)
    assert number(table["Max Drawdown"][1]) == pytest.approx(ours["max_drawdown"] * 100, abs=0.0051)
    assert elapsed < 60


# --- the equity picture -----------------------------------------------------------------------------


def test_plot_equity_writes_a_png(tmp_path):
    path = reports.plot_equity(make_run(count=300), tmp_path / "equity.png")
    assert path == tmp_path / "equity.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(path).shape
    assert (width, height) == (1100, 715)  # 10 x 6.5 inches at 110 dpi
    assert [p.name for p in tmp_path.iterdir()] == ["equity.png"]


# --- writing a run ----------------------------------------------------------------------------------


def test_write_run_writes_every_file(saved):
    _, directory = saved
    assert {p.name for p in directory.iterdir()} == ALL_FILES
    assert [p.name for p in directory.parent.iterdir()] == [directory.name]  # no temp directory left


def test_run_json_holds_settings_metrics_and_hashes(saved):
    run, directory = saved
    text = (directory / "run.json").read_text(encoding="utf-8")

    def no_constants(name):
        raise AssertionError(f"run.json is not strict JSON: it holds {name}")

    document = json.loads(text, parse_constant=no_constants)
    assert text == json.dumps(document, indent=2, sort_keys=True) + "\n"
    assert document["strategy"] == "momentum" and document["format"] == outputs.FORMAT
    assert document["sessions"] == 400
    assert document["first_session"] == "2015-01-02" and document["last_session"] == "2016-07-14"
    settings = document["settings"]
    assert settings["stop"] == {"kind": "trailing", "level": 0.05}  # a dataclass, spelled out
    assert settings["data"] == {"source": "embedded", "hash": "0123abcd"}
    assert settings["start"] == "2015-01-02 00:00:00" and settings["symbols"] == ["SPY", "QQQ"]
    assert settings["max_leverage"] is None  # infinity has no JSON spelling
    expected = summary(run)
    assert document["metrics"].keys() == expected.keys()
    for key, value in expected.items():
        # JSON has no NaN or infinity: both are null (an infinite profit factor: wins and no loss)
        stored = document["metrics"][key]
        assert stored == (None if not math.isfinite(value) else pytest.approx(value, rel=1e-15))
    assert document["costs"] == run.costs
    assert set(document["files"]) == ALL_FILES - {"run.json"}
    assert document["files"]["returns.csv"] == outputs._sha256(directory / "returns.csv")
    assert document["notes"] == []


def test_orders_csv_carries_option_details(saved):
    _, directory = saved
    orders = pd.read_csv(directory / "orders.csv")
    option = orders[orders["kind"] == "option"].iloc[0]
    assert option["instrument"] == "SPY 2015-03-20 P 200"
    assert option["strike"] == 200.0 and option["expiry"] == "2015-03-20" and option["option_type"] == "put"
    assert (option["implied_vol"], option["delta"], option["gamma"]) == (0.185, -0.42, 0.021)
    assert (option["vega"], option["theta"]) == (0.31, -0.045)
    stock = orders[orders["kind"] == "stock"].iloc[0]
    assert math.isnan(stock["strike"]) and math.isnan(stock["delta"])


def test_write_run_refuses_a_used_directory_unless_told(tmp_path):
    run = make_run(count=60)
    target = tmp_path / "run"
    target.mkdir()
    write_run(run, target, tearsheet=False)  # an empty directory is fine
    assert {p.name for p in target.iterdir()} == ALL_FILES - {"tearsheet.html"}
    with pytest.raises(RunError, match="not empty"):
        write_run(run, target, tearsheet=False)
    other = make_run("neutral", count=60, seed=99)
    write_run(other, target, tearsheet=False, overwrite=True)
    assert json.loads((target / "run.json").read_text())["strategy"] == "neutral"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the old copy is gone
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RunError, match="is an existing file"):
        write_run(run, tmp_path / "afile", tearsheet=False)


def test_write_run_failure_leaves_nothing_and_keeps_the_old_run(tmp_path, monkeypatch):
    run = make_run(count=60)

    def broken(result, path, **options):
        Path(path).write_text("<html>half", encoding="utf-8")
        raise RuntimeError("tearsheet failed")

    monkeypatch.setattr(outputs, "write_tearsheet", broken)
    with pytest.raises(RuntimeError, match="tearsheet failed"):
        write_run(run, tmp_path / "new")
    assert list(tmp_path.iterdir()) == []
    old = write_run(run, tmp_path / "old", tearsheet=False)
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    with pytest.raises(RuntimeError, match="tearsheet failed"):
        write_run(make_run("neutral", count=60, seed=3), old, overwrite=True)
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]


def test_write_run_notes_a_tearsheet_it_cannot_draw(tmp_path):
    run = make_run(count=60)
    flat = dataclasses.replace(run, returns=run.returns * 0.0)
    directory = write_run(flat, tmp_path / "flat")
    assert "tearsheet.html" not in {p.name for p in directory.iterdir()}
    notes = json.loads((directory / "run.json").read_text())["notes"]
    assert len(notes) == 1 and "never held a position" in notes[0]


def test_default_out_dir():
    from datetime import datetime

    when = datetime(2018, 12, 21, 9, 30, 5)
    assert default_out_dir("defensive", when) == Path("results/defensive-20181221-093005")
    assert default_out_dir("regime switch/v2", when, root="out") == Path(
        "out/regime-switch-v2-20181221-093005"
    )
    with pytest.raises(RunError):
        default_out_dir(" / ", when)


# --- reading a run back -----------------------------------------------------------------------------


def test_load_run_round_trip(saved):
    run, directory = saved
    back = load_run(directory)
    assert back.strategy == run.strategy
    for name in ("returns", "benchmark", "equity", "exposure"):
        pd.testing.assert_series_equal(getattr(back, name), getattr(run, name), check_exact=True)
    pd.testing.assert_frame_equal(back.trades, run.trades, check_exact=True)
    pd.testing.assert_frame_equal(back.orders, run.orders, check_exact=True)
    pd.testing.assert_frame_equal(back.positions, run.positions, check_exact=True, check_names=False)
    assert back.costs == run.costs
    assert back.settings["stop"] == {"kind": "trailing", "level": 0.05}
    assert same_figures(summary(back), summary(run))


def test_load_run_of_a_bare_run(tmp_path):
    """No trades, orders, positions or exposure recorded: the empty tables come back empty."""
    full = make_run(count=40)
    bare = RunResult("momentum", full.returns, full.benchmark, full.equity)
    back = load_run(write_run(bare, tmp_path / "bare", tearsheet=False))
    assert len(back.trades) == 0 and list(back.trades.columns) == list(full.trades.columns)
    assert len(back.orders) == 0 and len(back.positions) == 0 and len(back.exposure) == 0
    pd.testing.assert_series_equal(back.returns, full.returns, check_exact=True)


def test_load_run_names_what_is_broken(tmp_path):
    directory = write_run(make_run(count=40), tmp_path / "run", tearsheet=False)
    with pytest.raises(RunError, match="nowhere does not exist"):
        load_run(tmp_path / "nowhere")

    (directory / "returns.csv").write_text(
        (directory / "returns.csv").read_text().replace("2015-01-05", "2015-01-06")
    )
    with pytest.raises(RunError, match=r"run: returns.csv was changed after the run was written"):
        load_run(directory)

    (directory / "trades.csv").unlink()
    with pytest.raises(RunError, match=re.escape(f"saved run {directory} is missing trades.csv")):
        load_run(directory)

    (directory / "trades.csv").write_text("")  # present again; run.json is checked before the tables
    (directory / "run.json").write_text("{not json")
    with pytest.raises(RunError, match="run.json is not valid JSON"):
        load_run(directory)

    (directory / "run.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(RunError, match="format 99"):
        load_run(directory)
