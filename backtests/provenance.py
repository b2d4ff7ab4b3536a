"""What run.json records so that a run can be trusted and repeated: the code version, the package
versions, and how to rebuild the run's settings from a saved run.json (`cli.py backtest --config
results/.../run.json` reruns it, byte for byte on the same data)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from backtests.errors import RunError
from backtests.market import MarketSpec
from backtests.runner import RunSettings
from strategies.contracts import ContractSpec
from strategies.errors import ConfigError
from strategies.registry import build_params, get_strategy
from strategies.risk import RiskConfig
from strategies.volsurface import SkewParams


def is_run_record(path) -> bool:
    return Path(path).suffix.lower() == ".json"


def rerun_settings(path) -> tuple[RunSettings, MarketSpec, dict]:
    """The RunSettings and MarketSpec a saved run.json was made with, typed again from its record
    (the risk rules from their fields, never through their text), and the record itself."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"run record {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"run record {path} cannot be read as JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("settings"), dict):
        raise ConfigError(f"{path} is not a run.json written by `cli.py backtest` (no settings)")
    record = document["settings"]
    if "playbook" in record:
        raise ConfigError(f"{path} is a run of {record['playbook']}, a playbook written in Python: rerun it "
                          "from Python with the same class")
    try:
        name = record["strategy"]
        get_strategy(name)
        market = dict(record["market"])
        for key in ("start", "end"):
            market[key] = None if market.get(key) is None else pd.Timestamp(market[key])
        market["skew"] = SkewParams(**market["skew"])
        market["atr_windows"] = tuple(market.get("atr_windows") or ())
        spec = MarketSpec(**market)
        run = RunSettings(
            strategy=name, params=build_params(name, record.get("params") or {}),
            risk=RiskConfig.from_dict(record["risk"]), cash=record["cash"],
            contract_spec=ContractSpec(**record["contract_spec"]), rebalance_band=record["rebalance_band"],
            stop_cooldown=record["stop_cooldown"], thin_liquidity_scale=record["thin_liquidity_scale"],
            cash_buffer=record["cash_buffer"], windows_only=record["windows_only"], seed=record["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: its settings cannot be read back ({type(exc).__name__}: {exc})") from None
    if name == "benchmark":  # the runner re-derives the benchmark's cost-free rules
        run = dataclasses.replace(run, risk=None)
    return run, spec, record


def check_same_data(record: dict, data_hash: str, path) -> None:
    """A rerun on other data is not the run: refuse it, naming both hashes."""
    if record.get("data_hash") != data_hash:
        raise RunError(f"{path} was run on data {str(record.get('data_hash'))[:12]}, the data now loads as "
                       f"{data_hash[:12]}: the rerun would not be the same run")
