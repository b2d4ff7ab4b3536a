"""`cli.py compare`: several strategies on one prepared market, or saved runs, side by side.

The comparison is made once per module through the CLI (four playbooks, triple-witching windows,
2015-2018) and checked against what the saved runs themselves say when loaded back from disk.
"""

from __future__ import annotations

import html
import importlib
import io
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from rates import CASH_RATE_ARGS, NOVEMBER_2018_CASH_RATE

import data
from backtests.compare import build_comparison, load_saved, run_strategies, side_by_side
from backtests.compare_html import monthly_returns
from backtests.errors import RunError
from backtests.market import MarketSpec
from backtests.metrics import format_table, format_value, metrics_table
from backtests.outputs import load_run
from backtests.windows_eval import window_returns
from cli import main
from data.dividends import session_yields
from data.windows import windows_of_kind

# the module (`backtests.compare` names the public compare() function once backtests is imported)
compare_module = importlib.import_module("backtests.compare")

# backtests/outputs.py load_run fills the all-empty option_type column of a stock-only run (momentum)
# with "" on a float column, which pandas 3 warns about; reported to the lead with the one-line fix
# (.astype(object) before .fillna("")). Narrow: this message and category only.
STRATEGIES = ("momentum", "neutral", "defensive", "playbook")
SPAN = ["--start", "2015-01-01", "--end", "2018-12-31", *CASH_RATE_ARGS]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "report"
    result = CliRunner().invoke(main, ["compare", "--strategies", ",".join(STRATEGIES),
                                       "--window", "triple-witching", *SPAN, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def saved(compared):
    out, _ = compared
    return [load_run(out / name) for name in STRATEGIES]


@pytest.fixture(scope="module")
def saved_tables(compared):
    """Each saved run's own per-window table (windows.csv): the windows-only headline comes from it."""
    out, _ = compared
    return {name: pd.read_csv(out / name / "windows.csv") for name in STRATEGIES}


@pytest.fixture(scope="module")
def windows():
    sessions = data.load(["SPY"], pd.Timestamp("2015-01-01"), pd.Timestamp("2018-12-31"))["SPY"].index
    return windows_of_kind("triple-witching", sessions)


class _Page(HTMLParser):
    """Collects the header cells of every table (by id), the body cells of #metrics, and img/link sources."""

    def __init__(self):
        super().__init__()
        self.headers: dict[str, list[str]] = {}
        self.cells: list[list[str]] = []
        self.sources: list[tuple[str, str, str]] = []
        self._table = None
        self._cell = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id")
            self.headers[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table == "metrics":
            self.cells.append([])
        elif tag in ("th", "td"):
            self._cell = tag
        for key in ("src", "href"):
            if key in attrs:
                self.sources.append((tag, key, attrs[key]))

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, text):
        if self._cell == "th" and self._table and not self._in_body:
            self.headers[self._table].append(text.strip())
        elif self._cell == "td" and self._in_body and self._table == "metrics":
            self.cells[-1].append(text.strip())


def _page(path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_compare_prints_the_metrics_table_of_the_saved_runs(compared, saved, saved_tables):
    out, output = compared
    table = metrics_table(saved, windows=saved_tables)
    # windows-only runs: no annualised figure; the per-window distribution is the headline
    labels = " ".join(table.index.get_level_values("metric"))
    assert "CAGR" not in labels and "Sharpe" not in labels and "Window return: mean" in labels
    assert format_table(table) in output
    assert f"report written to {out / 'compare.html'}" in output
    metrics = pd.read_csv(out / "metrics.csv", index_col=[0, 1])
    assert list(metrics.columns) == [*STRATEGIES, "benchmark"]
    pd.testing.assert_frame_equal(metrics, table, check_exact=False, rtol=1e-8, check_names=False)


def test_every_strategy_ran_windows_only_on_the_same_market(saved):
    hashes = {run.settings["data_hash"] for run in saved}
    assert len(hashes) == 1
    assert all(run.settings["windows_only"] and run.settings["market"]["window"] == "triple-witching"
               for run in saved)
    assert all(run.benchmark.equals(saved[0].benchmark) for run in saved[1:])


def test_side_by_side_windows_match_each_saved_run(compared, saved, windows):
    out, _ = compared
    table = pd.read_csv(out / "windows.csv", index_col="event", parse_dates=["event", "first", "last"])
    assert list(table.columns) == ["first", "last", *STRATEGIES, "benchmark"]
    assert list(table.index) == [w.event for w in windows]
    for run in saved:
        np.testing.assert_allclose(table[run.strategy], window_returns(run.returns, windows).to_numpy(),
                                   rtol=1e-9, atol=1e-12)
    spy = data.load(["SPY"], pd.Timestamp("2015-01-01"), pd.Timestamp("2018-12-31"))["SPY"]["close"]
    sessions = spy.index
    # total return: each session's price return plus the yield known at the previous close for the
    # calendar days between (data.dividends)
    known = pd.Series(session_yields(sessions), sessions).shift()
    total = spy.pct_change() + known * sessions.to_series().diff().dt.days / 365
    expected = [(1 + total.iloc[sessions.get_loc(w.first) - 1 + 1:
                                min(sessions.get_loc(w.last) + 1, len(spy) - 1) + 1]).prod() - 1
                for w in windows]
    np.testing.assert_allclose(table["benchmark"], expected, rtol=1e-9)


def test_event_study_rows_are_printed_for_every_strategy(compared, windows, saved):
    _, output = compared
    for run in saved:
        values = window_returns(run.returns, windows)
        line = next(line for line in output.splitlines() if line.startswith(f"{run.strategy} "))
        assert f"{values.mean():+.2%}" in line and f"{(values > 0).mean():.1%}" in line
    assert any(line.startswith("playbook - benchmark") for line in output.splitlines())
    assert "S&P 500, last two weeks of December" in output


def test_compare_from_saved_runs_reuses_them_without_running(compared, tmp_path, monkeypatch):
    out, output = compared

    def refuse(*args, **kwargs):
        raise AssertionError("a comparison of saved runs must not prepare a market or run a strategy")

    monkeypatch.setattr(compare_module, "prepare_market", refuse)
    monkeypatch.setattr(compare_module, "run_backtest", refuse)
    again = tmp_path / "again"
    dirs = [str(out / name) for name in STRATEGIES]
    # the literal form of the issue: --from followed by several directories
    result = CliRunner().invoke(main, ["compare", "--from", *dirs, "--out", str(again)])
    assert result.exit_code == 0, result.output
    table_text = output[output.index("metric "):output.index("event study")]
    assert table_text in result.output
    first = pd.read_csv(out / "windows.csv", index_col="event")
    second = pd.read_csv(again / "windows.csv", index_col="event")
    pd.testing.assert_frame_equal(first, second)
    assert not [p for p in again.iterdir() if p.is_dir()]  # saved runs are referenced, not copied


def test_compare_shows_a_progress_bar_over_strategies():
    stream = io.StringIO()
    spec = MarketSpec(start=pd.Timestamp("2017-01-01"), end=pd.Timestamp("2018-12-31"), window="year-end",
                      cash_rate=NOVEMBER_2018_CASH_RATE)
    results, market = run_strategies(["momentum", "defensive"], spec, show_progress=True,
                                     progress_file=stream)
    assert [r.strategy for r in results] == ["momentum", "defensive"]
    assert "compare: strategies" in stream.getvalue() and "/2 [" in stream.getvalue()
    bars = io.StringIO()
    build_comparison(results, "year-end", [market.windows] * 2, market.regime, show_progress=True,
                     progress_file=bars)
    assert "momentum: windows" in bars.getvalue() and "defensive: windows" in bars.getvalue()


def test_report_is_self_contained_with_one_column_per_strategy(compared):
    out, output = compared
    page = _page(out / "compare.html")
    assert page.headers["metrics"] == ["metric", *STRATEGIES, "benchmark"]
    assert page.headers["windows"] == ["event", "first", "last", *STRATEGIES, "benchmark"]
    assert page.headers["event-study"][0] == "returns"
    images = [value for tag, key, value in page.sources if tag == "img"]
    assert len(images) >= 3 and all(v.startswith("data:image/png;base64,") for v in images)
    # nothing may point outside the file: every src/href is a data: URI
    assert all(value.startswith("data:") for _, _, value in page.sources), page.sources
    text = (out / "compare.html").read_text(encoding="utf-8")
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:|//|file:)", text)
    assert "<script" not in text and "@import" not in text and "url(" not in text


def test_report_metrics_cells_are_the_terminal_table_cells(compared, saved, saved_tables):
    out, _ = compared
    page = _page(out / "compare.html")
    table = metrics_table(saved, windows=saved_tables)
    assert table.attrs["convention"] in html.unescape((out / "compare.html").read_text(encoding="utf-8"))
    terminal = format_table(table).splitlines()[1:]
    for line, cells, (label, unit), values in zip(terminal, page.cells, table.index, table.to_numpy()):
        assert cells[0] == label
        assert cells[1:] == [format_value(float(v), unit) for v in values]
        assert re.split(r"\s{2,}", line.strip())[1:] == cells[1:]


def test_unknown_strategy_is_one_line_with_a_hint():
    result = CliRunner().invoke(main, ["compare", "--strategies", "momentum,neutrall"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "neutrall" in lines[0] and "did you mean 'neutral'" in lines[0]


@pytest.mark.parametrize("args, culprit", [
    (["--strategies", "momentum", "--from", "somewhere"], "--strategies"),
    ([], "--strategies"),
    (["--strategies", "momentum,momentum"], "twice"),
    (["--from", "a", "--start", "2015-01-01"], "--from"),
    (["somewhere"], "--from"),
    (["--strategies", "momentum", "--start", "2015-13-01"], "--start"),
])
def test_bad_combinations_are_one_line(args, culprit):
    result = CliRunner().invoke(main, ["compare", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and culprit in lines[0], result.output


def test_a_taken_output_directory_fails_before_any_run(tmp_path, monkeypatch):
    (tmp_path / "old.txt").write_text("keep me")
    monkeypatch.setattr(compare_module, "prepare_market",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("ran before checking --out")))
    result = CliRunner().invoke(main, ["compare", "--strategies", "momentum", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "not empty" in result.output
    assert (tmp_path / "old.txt").read_text() == "keep me"


def test_a_missing_saved_run_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["compare", "--from", str(tmp_path / "nope"),
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "o").exists()


def test_saved_runs_are_judged_only_on_the_windows_they_ran_on(compared, tmp_path):
    out, _ = compared
    result = CliRunner().invoke(main, ["compare", "--from", str(out / "neutral"), "--window", "year-end",
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: saved run {out / 'neutral'} was run on triple-witching "
                                     "windows; compare it with --window triple-witching")


def test_the_same_saved_run_twice_is_refused(compared):
    out, _ = compared
    with pytest.raises(RunError, match="twice"):
        load_saved([out / "momentum", out / "momentum"])


def test_side_by_side_splits_differing_benchmarks():
    index = pd.DatetimeIndex(["2018-03-16", "2018-06-15"], name="event")
    spans = {"first": index - pd.Timedelta(days=7), "last": index + pd.Timedelta(days=7)}

    def table(ret, bench):
        return pd.DataFrame({**spans, "return": ret, "benchmark_return": bench}, index=index)

    first = table([0.01, 0.02], [0.03, -0.01])
    same = side_by_side(["a", "b"], {"a": first, "b": table([0.0, 0.1], [0.03, -0.01])})
    assert list(same.columns) == ["first", "last", "a", "b", "benchmark"]
    differ = side_by_side(["a", "b"], {"a": first, "b": table([0.0, 0.1], [0.02, 0.0])})
    assert list(differ.columns) == ["first", "last", "a", "b", "benchmark (a)", "benchmark (b)"]
    assert differ["benchmark (b)"].tolist() == [0.02, 0.0]


def test_monthly_returns_compound_within_each_month():
    days = pd.to_datetime(["2018-01-02", "2018-01-31", "2018-02-01", "2019-12-31"])
    table = monthly_returns(pd.Series([0.1, -0.1, 0.05, 0.02], index=days))
    assert table.loc[2018, 1] == pytest.approx(1.1 * 0.9 - 1)
    assert table.loc[2018, 2] == pytest.approx(0.05)
    assert table.loc[2019, 12] == pytest.approx(0.02)
    assert table.shape == (2, 12) and np.isnan(table.loc[2019, 1])
