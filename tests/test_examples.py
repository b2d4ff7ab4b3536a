"""The scripts in examples/ run as the docs say, on a short range, and do what they claim.

Each is run the way a reader runs it (`python examples/NAME.py ...` from the project root, in a
fresh process) with its output sent to a temporary folder.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(*args, timeout=300):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_backtest_from_python_runs_the_stop_it_says(tmp_path):
    out = run("examples/backtest_from_python.py", "--start", "2017-01-03", "--end", "2018-11-30",
              "--out", tmp_path / "run")
    assert "momentum (default rules)" in out and "momentum (trailing 3%)" in out
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["settings"]["risk"]["stops"] == [{"atr_sessions": 14, "kind": "trailing", "level": 0.03}]
    returns = pd.read_csv(tmp_path / "run" / "returns.csv", index_col=0, parse_dates=True)
    assert returns.index[0] == pd.Timestamp("2017-01-03") and returns.index[-1] == pd.Timestamp("2018-11-30")


def test_year_end_event_study_has_one_row_per_window(tmp_path):
    out = run("examples/year_end_event_study.py", "--strategies", "momentum,neutral", "--start", "2013-01-02",
              "--end", "2018-11-30", "--out", tmp_path)
    # events 2013 .. 2017: the last session of each December (the T-bill rate ends with 2018-11)
    assert re.search(r"^5 year-end windows, events 2013-12-31 \.\. 2017-12-29$", out, re.M), out
    for name in ("momentum", "neutral"):
        assert f"event study: {name} on 5 year-end windows" in out
        table = pd.read_csv(tmp_path / f"{name}-windows.csv")
        assert list(table["kind"].unique()) == ["year-end"] and len(table) == 5
        assert (table["excess_return"] - (table["return"] - table["benchmark_return"])).abs().max() < 1e-9
        # the summary printed is that of the windows written: its mean is the CSV's mean
        row = re.search(rf"^{name} +5 +(\S+)", out, re.M).group(1)
        assert row == f"{table['return'].mean():+.2%}"


def test_compare_report_writes_one_page_with_every_strategy(tmp_path):
    out = run("examples/compare_report.py", "--strategies", "momentum,defensive", "--window", "year-end",
              "--start", "2013-01-02", "--end", "2018-11-30", "--out", tmp_path / "cmp")
    assert "report:" in out
    page = (tmp_path / "cmp" / "compare.html").read_text()
    metrics = pd.read_csv(tmp_path / "cmp" / "metrics.csv")
    assert list(metrics.columns) == ["metric", "unit", "momentum", "defensive", "benchmark"]
    assert "momentum" in page and "defensive" in page and "year-end" in page
    assert len(pd.read_csv(tmp_path / "cmp" / "windows.csv")) == 5


def test_tune_stop_loss_tries_every_cell_and_judges_out_of_sample(tmp_path):
    out = run("examples/tune_stop_loss.py", "--stop", "trailing:2%..6%:2%", "--start", "2013-01-02",
              "--end", "2018-11-30", "--min-train-years", "2", "--out", tmp_path / "tune")
    board = pd.read_csv(tmp_path / "tune" / "leaderboard.csv")
    assert sorted(board["rule"]) == ["trailing:2%", "trailing:4%", "trailing:6%"]
    assert (board["state"] == "COMPLETE").all()
    assert "walk-forward" in out and "verdict:" in out
    assert (tmp_path / "tune" / "walk_forward.csv").exists()


def test_config_example_runs_and_is_the_one_the_docs_show(tmp_path):
    """examples/run.yaml is the file docs/risk-and-costs.md prints, and `cli.py backtest --config`
    runs it (here cut to 2016-2018 by --start, which overrides the file's start)."""
    page = (ROOT / "docs" / "risk-and-costs.md").read_text()
    shown = re.search(r"^## Config files.*?```yaml\n(.*?)```", page, re.S | re.M).group(1)
    example = ROOT / "examples" / "run.yaml"
    assert yaml.safe_load(shown) == yaml.safe_load(example.read_text())
    run("cli.py", "backtest", "--config", example, "--start", "2016-01-04", "--no-tearsheet",
        "--out", tmp_path / "run")
    settings = json.loads((tmp_path / "run" / "run.json").read_text())["settings"]
    assert settings["strategy"] == "neutral" and settings["market"]["window"] == "triple-witching"
    assert pd.Timestamp(settings["market"]["start"]) == pd.Timestamp("2016-01-04")
    assert settings["params"]["band"] == 0.1
    assert [(s["kind"], s["level"]) for s in settings["risk"]["stops"]] == [("trailing", 0.05), ("time", 10)]
    assert settings["risk"]["costs"]["slippage_bp"] == 5.0 and settings["risk"]["costs"]["tax_rate"] == 0.25
    assert (tmp_path / "run" / "windows.csv").exists()


@pytest.mark.parametrize("args", [(), ("--config", "examples/run.yaml")])
def test_backtest_without_a_strategy_is_one_line_and_exit_2(tmp_path, args):
    if args:  # a config file without a strategy key
        config = tmp_path / "run.yaml"
        config.write_text("window: year-end\n")
        args = ("--config", config)
    command = [sys.executable, "cli.py", "backtest", *map(str, args), "--out", str(tmp_path / "o")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert "Missing option '--strategy'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def _python_block(page: Path) -> str:
    return re.search(r"```python\n(.*?)```", page.read_text(), re.S).group(1)


def test_the_python_quickstart_of_the_readme_and_the_docs_runs():
    """The README's and docs/getting-started.md's Python snippet is one, and it prints the table."""
    snippet = _python_block(ROOT / "README.md")
    assert snippet == _python_block(ROOT / "docs" / "getting-started.md")
    out = run("-c", snippet)
    first, header, *rows = out.strip().splitlines()
    assert re.fullmatch(r"tilt: CAGR -?\d+\.\d\d%, Sharpe -?\d+\.\d\d", first), first
    assert header.split() == ["metric", "tilt", "momentum", "benchmark"]
    assert any(row.startswith("Sharpe (over T-bills) ") for row in rows) and len(rows) >= 10


def test_custom_playbook_is_a_users_playbook_run_through_the_api(tmp_path):
    """examples/custom_playbook.py (the Tilt playbook of docs/custom-playbooks.md) runs, and what it
    writes is Tilt's: SPY and QQQ only, QQQ never above 60% of equity, its figures in run.json."""
    out = run("examples/custom_playbook.py", "--start", "2010-01-04", "--end", "2012-12-31",
              "--out", tmp_path / "tilt")
    assert out.startswith("tilt: CAGR ") and "momentum" in out
    record = json.loads((tmp_path / "tilt" / "run.json").read_text())
    assert record["settings"]["strategy"] == "tilt"
    assert [(s["kind"], s["level"]) for s in record["settings"]["risk"]["stops"]] == [("trailing", 0.05)]
    trades = pd.read_csv(tmp_path / "tilt" / "trades.csv")
    assert set(trades["instrument"]) == {"SPY", "QQQ"}
    positions = pd.read_csv(tmp_path / "tilt" / "positions.csv", index_col=0)
    equity = pd.read_csv(tmp_path / "tilt" / "returns.csv", index_col=0)["equity"]
    qqq = positions["QQQ"] / equity
    assert 0.55 < qqq.max() < 0.6 + 0.03  # the tilt, drifting inside the rebalance band


@pytest.mark.parametrize("extra", [
    ("--strategy", "momentum", "--stop", "atr:2,sessions:20", "--take-profit", "atr:3,sessions:10",
     "--tranches", "3"),
    ("--config", "examples/run.yaml"),
])
def test_a_saved_run_json_reruns_byte_for_byte(tmp_path, extra):
    """`backtest --config results/.../run.json` repeats the saved run: the same returns.csv, trades
    and orders, byte for byte; run.json says how it was made (command, code and package versions)."""
    run("cli.py", "backtest", *extra, "--start", "2016-01-04", "--end", "2017-12-29", "--no-tearsheet",
        "--out", tmp_path / "first")
    run("cli.py", "backtest", "--config", tmp_path / "first" / "run.json", "--no-tearsheet",
        "--out", tmp_path / "again")
    for name in ("returns.csv", "trades.csv", "orders.csv", "positions.csv"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    settings = json.loads((tmp_path / "again" / "run.json").read_text())["settings"]
    assert settings["command"][:3] == ["cli.py", "backtest", "--config"]
    assert settings["code_version"]["source_sha256"] and settings["packages"]["backtrader"]


def test_a_rerun_takes_no_other_settings(tmp_path):
    run("cli.py", "backtest", "--strategy", "benchmark", "--start", "2016-01-04", "--end", "2016-12-30",
        "--no-tearsheet", "--out", tmp_path / "first")
    command = [sys.executable, "cli.py", "backtest", "--config", str(tmp_path / "first" / "run.json"),
               "--stop", "trailing:5%", "--out", str(tmp_path / "again")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "takes only --out" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "again").exists()
