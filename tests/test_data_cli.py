"""`cli.py data list|fetch|validate`: output lines and exit codes, through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import cli
from data import yahoo

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "data_csv_good"
BAD = FIXTURES / "data_csv_bad"


def run(*args):
    return CliRunner().invoke(cli.main, ["data", *args])


def spy_download(tickers, **kwargs):
    """A yfinance-shaped download of three SPY sessions (Price, Ticker columns, tz-naive index)."""
    index = pd.DatetimeIndex(["2018-12-27", "2018-12-28", "2018-12-31"], name="Date")
    columns = pd.MultiIndex.from_product(
        [["Adj Close", "Close", "High", "Low", "Open", "Volume"], [tickers]], names=["Price", "Ticker"]
    )
    values = np.array(
        [
            [237.716461, 248.070007, 248.289993, 238.960007, 242.570007, 186267300],
            [237.409790, 247.750000, 251.399994, 246.449997, 249.580002, 153100200],
            [239.489288, 249.919998, 250.190002, 247.470001, 249.559998, 144299400],
        ]
    )
    return pd.DataFrame(values, index=index, columns=columns)


def offline(tickers, **kwargs):
    raise ConnectionError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("PLAYBOOK_CACHE_DIR", str(folder))
    return folder


def test_list_embedded():
    result = run("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["symbol", "in"]
    spy = next(line for line in lines if line.startswith("SPY "))
    assert "1990-01-02" in spy and "2022-12-28" in spy and "partly" in spy and "S&P 500 price index" in spy
    at = lines.index(spy)
    assert [line.split()[1:5] for line in lines[at + 1:at + 4]] == [
        ["1990-01-02", "..", "1998-12-31", "close-only"],
        ["1999-01-04", "..", "2018-12-31", "ohlcv"],
        ["2019-01-02", "..", "2022-12-28", "close-only"],
    ]
    assert "skfolio sp500_index" in lines[at + 1] and "arch sp500" in lines[at + 2]
    qqq = lines.index(next(line for line in lines if line.startswith("QQQ ")))
    assert "tech basket AAPL, MSFT, AMD" in lines[qqq + 1] and "arch nasdaq" in lines[qqq + 2]
    smh = next(line for line in lines if line.startswith("SMH "))
    assert "no daily semiconductor series ships offline" in smh
    assert len(lines) == 12 + 6  # header + the 11 playbook symbols + 3 segment lines for SPY and QQQ
    assert len(run("list", "--all").output.splitlines()) == 18 + 21  # ^GSPC and 20 large caps


def test_list_and_validate_report_stale_opens():
    """SPY's opens repeat the previous close on 95-98% of the sessions of 1999-2005 in arch's file;
    `data list` says so in its opens column and `data validate` per year; QQQ is clean."""
    lines = run("list").output.splitlines()
    assert lines[0].split()[7] == "opens"  # after symbol, "in the playbook", first, last, close_only
    row = {line.split()[0]: line for line in lines[1:]}
    assert "stale 40% (1999-2013)" in row["SPY"]
    assert "  real  " in row["QQQ"] and "  none  " in row["XLE"]
    result = run("validate", "--symbols", "SPY,QQQ,XLE", "--start", "1999-01-01", "--end", "2018-12-31")
    assert result.exit_code == 0, result.output
    spy, qqq, xle = result.output.splitlines()[:3]
    assert "stale opens (open = previous close) on 2004 of 5031 sessions with an open (39.8%)" in spy
    assert "1999 96%" in spy and "2006 43%" in spy and "2013 26%" in spy and "2016" not in spy
    assert "on 8 of 5031 sessions with an open (0.2%); no year at 5% or more" in qqq
    assert xle.endswith("close-only: no session has a real open")


def test_list_csv_needs_a_folder():
    result = run("list", "--source", "csv")
    assert result.exit_code == 2 and "--data-dir" in result.output
    result = run("list", "--source", "csv", "--data-dir", str(GOOD))
    assert result.exit_code == 0
    vix = next(line for line in result.output.splitlines() if line.startswith("^VIX"))
    assert "VIX.csv" in vix and "2018-12-17" in vix


def test_validate_embedded_passes_and_lists_the_repair():
    result = run("validate")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(line.startswith("OK ") for line in lines) == 8
    assert sum(line.startswith("SKIP") for line in lines) == 3
    assert any(line.startswith("repair ^VIX: 46 row(s)") for line in lines)


def test_validate_embedded_failures_exit_2():
    result = run("validate", "--symbols", "SMH,SPY", "--start", "1985-01-01")
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0].startswith("FAIL  SMH  embedded source has no daily series for SMH")
    assert lines[1].startswith("FAIL  SPY  embedded SPY on 1985-01-01 breaks rule 'history covers start'")


def test_validate_csv_folders():
    good = run("validate", "--source", "csv", "--data-dir", str(GOOD))
    assert good.exit_code == 0, good.output
    checked = [line.split()[:2] for line in good.output.splitlines() if not line.startswith("can")]
    assert checked == [
        ["OK", "QQQ"], ["OK", "SPY"], ["OK", "VIX"], ["OK", "^IRX"], ["OK", "^TNX"]
    ]  # fmt: skip
    # then what the folder can run: SPY and QQQ (SMH is optional) make momentum, neutral, benchmark
    assert "can run   momentum" in good.output and "cannot    defensive: no valid XLE, XLP, XLF, BIL" \
        in good.output
    bad = run("validate", "--source", "csv", "--data-dir", str(BAD))
    assert bad.exit_code == 2
    lines = [line for line in bad.output.splitlines() if not line.startswith(("can", "cannot"))]
    assert len(lines) == len(list(BAD.glob("*.csv"))) and all(line.startswith("FAIL") for line in lines)
    assert "cannot    neutral: no valid SPY" in bad.output


def test_validate_rejects_bad_options():
    assert run("validate", "--start", "2019-13-01").exit_code == 2
    assert "is not a date" in run("validate", "--start", "2019-13-01").output
    result = run("validate", "--start", "2018-01-02", "--end", "2017-01-02")
    assert result.exit_code == 2 and "swap them" in result.output
    assert run("validate", "--source", "bloomberg").exit_code == 2


def test_fetch_writes_the_cache(cache_dir, monkeypatch):
    monkeypatch.setattr(yahoo, "_yfinance_download", spy_download)
    result = run("fetch", "SPY", "--start", "2018-12-27", "--end", "2018-12-31")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"SPY: downloaded 2018-12-27 to 2018-12-31, 3 rows -> {cache_dir / 'SPY.csv'}"
    )
    again = run("fetch", "SPY", "--start", "2018-12-27", "--end", "2018-12-31")
    assert "SPY: already cached" in again.stdout


def test_fetch_network_failure_is_one_line_exit_2(cache_dir, monkeypatch):
    monkeypatch.setattr(yahoo, "_yfinance_download", offline)
    result = run("fetch", "SPY")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: yahoo download of SPY failed (ConnectionError: Failed to perform, curl: (6) Could not "
        f"resolve host: query2.finance.yahoo.com); nothing written to {cache_dir / 'SPY.csv'}"
    ]


def test_validate_yahoo_falls_back_to_cache_with_one_warning_line(cache_dir, monkeypatch):
    monkeypatch.setattr(yahoo, "_yfinance_download", spy_download)
    assert run("fetch", "SPY", "--start", "2018-12-27", "--end", "2018-12-31").exit_code == 0
    monkeypatch.setattr(yahoo, "_yfinance_download", offline)
    result = run("validate", "--source", "yahoo", "--symbols", "SPY", "--refresh")
    assert result.exit_code == 0, result.output
    (warning,) = result.stderr.strip().splitlines()
    assert warning.startswith("warning: yahoo download of SPY failed (ConnectionError")
    assert result.stdout.startswith("OK    SPY  2018-12-27 to 2018-12-31, 3 sessions")


def test_validate_yahoo_without_cache_fails(cache_dir, monkeypatch):
    monkeypatch.setattr(yahoo, "_yfinance_download", offline)
    result = run("validate", "--source", "yahoo", "--symbols", "SPY")
    assert result.exit_code == 2
    assert "there is no cache file" in result.stdout and result.stdout.startswith("FAIL  SPY")


def test_data_error_outside_a_line_goes_through_the_group(tmp_path):
    result = run("validate", "--source", "csv", "--data-dir", str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: csv data directory {tmp_path / 'missing'} does not exist"
