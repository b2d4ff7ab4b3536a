"""`cli.py backtest` and `cli.py strategies` end to end, through click's CliRunner."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from rates import CASH_RATE_ARGS

from cli import main

SHORT = ["--start", "2016-01-04", "--end", "2018-12-31", *CASH_RATE_ARGS]


def invoke(*args):
    return CliRunner().invoke(main, list(args))


@pytest.mark.slow
def test_the_main_job_writes_every_output(tmp_path):
    out = tmp_path / "neutral"
    result = invoke("backtest", "--strategy", "neutral", "--out", str(out))
    assert result.exit_code == 0, result.output
    for name in ("returns.csv", "trades.csv", "orders.csv", "positions.csv", "run.json", "tearsheet.html",
                 "equity.png"):
        assert (out / name).stat().st_size > 0, name
    assert "Sharpe" in result.output and "benchmark" in result.output
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["strategy"] == "neutral"
    # the default playbook span: SPY's OHLCV years, ended with the last published T-bill rate
    assert (run["settings"]["data_first_session"], run["settings"]["data_last_session"]) == (
        "1999-01-04", "2018-11-30")
    assert [s["series"] for s in run["settings"]["stand_ins"]] == ["^VIX"]  # GARCH before VIX starts
    assert len(run["settings"]["data_hash"]) == 64
    orders = pd.read_csv(out / "orders.csv")
    options = orders[(orders["kind"] == "option") & (orders["reason"] != "expiry") & (orders["quantity"] > 0)]
    assert len(options) > 100 and options[["strike", "expiry", "implied_vol", "delta"]].notna().all().all()


def test_risk_options_reach_the_run(tmp_path):
    out = tmp_path / "momentum"
    result = invoke("backtest", "--strategy", "momentum", *SHORT, "--stop", "fixed:3%", "--stop", "time:10",
                    "--take-profit", "atr:2", "--size", "vol-target:10%", "--max-weight", "50%",
                    "--slippage-bp", "5", "--tax-rate", "25%", "--out", str(out), "--no-tearsheet")
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "run.json").read_text())["settings"]
    risk = settings["risk"]
    assert [s["kind"] for s in risk["stops"]] == ["fixed", "time"]
    assert risk["take_profit"]["kind"] == "atr" and risk["sizing"]["kind"] == "vol-target"
    assert risk["costs"]["slippage_bp"] == 5.0 and risk["costs"]["tax_rate"] == 0.25
    reasons = set(pd.read_csv(out / "trades.csv")["exit_reason"])
    assert reasons & {"stop-fixed", "stop-time", "take-profit"}


def test_config_file_and_command_line_precedence(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("strategy: defensive\nstart: 2016-01-04\nend: 2018-12-31\nstop: trailing:5%\n"
                      "params:\n  put_budget: 0.002\n")
    out = tmp_path / "run"
    result = invoke("backtest", "--strategy", "defensive", "--config", str(config), "--stop", "fixed:10%",
                    *CASH_RATE_ARGS, "--out", str(out), "--no-tearsheet")
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert [s["kind"] for s in settings["risk"]["stops"]] == ["fixed"]
    assert settings["params"]["put_budget"] == 0.002


def test_the_same_settings_repeat_the_same_run(tmp_path):
    runs = []
    for name in ("a", "b"):
        result = invoke("backtest", "--strategy", "playbook", *SHORT, "--out", str(tmp_path / name),
                        "--no-tearsheet", "--seed", "7")
        assert result.exit_code == 0, result.output
        runs.append(pd.read_csv(tmp_path / name / "returns.csv"))
    pd.testing.assert_frame_equal(runs[0], runs[1])


@pytest.mark.parametrize(("args", "culprit"), [
    (["--strategy", "nuetral"], "did you mean 'neutral'"),
    (["--strategy", "neutral", "--stop", "trailing:5"], "did you mean 'trailing:5%'"),
    (["--strategy", "neutral", "--stop", "trailng:5%"], "did you mean 'trailing'"),
    (["--strategy", "neutral", "--window", "xmas"], "xmas"),
    (["--strategy", "neutral", "--start", "2018-13-01"], "2018-13-01"),
    (["--strategy", "neutral", "--source", "csv", "--data-dir", "/nonexistent/dir"], "/nonexistent/dir"),
    (["--strategy", "neutral", "--config", "/nonexistent/run.yaml"], "run.yaml"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, culprit):
    result = CliRunner().invoke(main, ["backtest", *args, "--out", str(tmp_path / "x"), "--no-tearsheet"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and culprit in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_strategies_lists_every_strategy():
    result = invoke("strategies")
    assert result.exit_code == 0
    for name in ("momentum", "neutral", "defensive", "playbook", "benchmark"):
        assert name in result.output
