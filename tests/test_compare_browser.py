"""The compare report in a real browser: headless Chromium opens the file offline, the rendered DOM
has the metrics table with one column per strategy and the charts as embedded images, and a
screenshot of the page is not blank.

Skipped only when Chromium is absent; CI installs Debian's chromium (.ci/run), so it runs there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from rates import NOVEMBER_2018_CASH_RATE

from backtests.compare import compare

SYSTEM_CHROMIUM = "/usr/bin/chromium"
CHROMIUM = shutil.which("chromium") or (SYSTEM_CHROMIUM if os.access(SYSTEM_CHROMIUM, os.X_OK) else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it: "
                                "apt-get install -y chromium); the report cannot be opened in a browser here")
STRATEGIES = ("momentum", "neutral", "defensive")
TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report"
    outcome = compare(strategies=list(STRATEGIES), out=out,
                      settings={"window": "year-end", "start": "2014-01-01", "end": "2018-12-31",
                                "cash_rate": NOVEMBER_2018_CASH_RATE})
    return outcome.report


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class _Dom(HTMLParser):
    """Header cells of table#metrics, every <img> src, and whether an <svg> is present."""

    def __init__(self):
        super().__init__()
        self.metrics_header: list[str] = []
        self.images: list[str] = []
        self.svg = False
        self._table = None
        self._th = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id")
        elif tag == "th":
            self._th = True
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "svg":
            self.svg = True

    def handle_endtag(self, tag):
        if tag == "th":
            self._th = False
        elif tag in ("table", "thead"):
            self._table = None if tag == "table" else self._table

    def handle_data(self, text):
        if self._th and self._table == "metrics" and text.strip():
            self.metrics_header.append(text.strip())


def test_rendered_page_has_a_column_per_strategy_and_embedded_charts(report, tmp_path):
    done = _chromium(tmp_path, "--dump-dom", report.as_uri())
    dom = _Dom()
    dom.feed(done.stdout)
    assert dom.metrics_header == ["metric", *STRATEGIES, "benchmark"]
    charts = [src for src in dom.images if src.startswith("data:image/png;base64,")]
    assert len(charts) >= 3 or dom.svg, dom.images[:3]
    assert all(src.startswith("data:") for src in dom.images)  # nothing fetched from outside the file
    assert 'id="windows"' in done.stdout and 'id="claims-december"' in done.stdout


def test_screenshot_of_the_page_is_not_blank(report, tmp_path):
    shot = tmp_path / "page.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri())
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    grey = pixels.mean(axis=2)
    # a blank or failed page is one flat colour; the report has text, tables and coloured charts
    assert grey.var() > 0.01
    assert (grey < 0.5).mean() > 0.01  # dark pixels: text and lines
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.25
    assert colourful.mean() > 0.005  # the equity curves and heatmaps are in colour
    # the charts are drawn: the lower half of the first screen (equity chart) is not empty either
    assert grey[1000:].var() > 0.005


def test_report_is_a_single_file_and_unchanged_by_opening(report, tmp_path):
    before = report.read_bytes()
    _chromium(tmp_path, "--dump-dom", report.as_uri())
    assert report.read_bytes() == before
    siblings = sorted(p.name for p in report.parent.iterdir() if p.is_file())
    assert siblings == ["compare.html", "metrics.csv", "windows.csv"]
    assert pd.read_csv(report.parent / "metrics.csv", index_col=[0, 1]).shape[1] == len(STRATEGIES) + 1
    assert np.isfinite(pd.read_csv(report.parent / "windows.csv")[list(STRATEGIES)].to_numpy()).all()


def _console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_pages_load_without_console_errors(report, tmp_path):
    """The compare report and a quantstats tearsheet open with nothing on the browser's console
    (quantstats' template calls an undefined save() on load; the tearsheet writer removes it)."""
    from backtests.market import MarketSpec, prepare_market
    from backtests.reports import write_tearsheet
    from backtests.runner import RunSettings, run_backtest

    market = prepare_market(MarketSpec(start="2016-01-04", end="2018-12-31",
                                       cash_rate=NOVEMBER_2018_CASH_RATE))
    tearsheet = write_tearsheet(run_backtest(RunSettings("defensive"), market), tmp_path / "tearsheet.html")
    for page in (report, tearsheet):
        done = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
        assert _console_messages(done.stderr) == [], page.name
        assert "</table>" in done.stdout


def test_console_messages_are_caught(tmp_path):
    """The check above can fail: a page with a script error shows up on the console."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body onload="save()"><p>x</p></body></html>')
    done = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    assert any("save is not defined" in line for line in _console_messages(done.stderr))
