"""Every strategy the CLI can run, by name, with its parameters, symbols and default risk rules."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from strategies.base import PlaybookStrategy
from strategies.benchmark import Benchmark, BenchmarkParams
from strategies.defensive import Defensive, DefensiveParams
from strategies.errors import ConfigError
from strategies.momentum import Momentum, MomentumParams
from strategies.neutral import Neutral, NeutralParams
from strategies.risk import RiskConfig, StopRule, TakeProfit, did_you_mean
from strategies.switching import Switching, SwitchingParams


@dataclass(frozen=True)
class StrategyEntry:
    name: str
    strategy: type[PlaybookStrategy]
    params_type: type
    symbols: tuple[str, ...]  # what it may trade; the first is the option underlying
    uses_options: bool
    default_risk: RiskConfig
    summary: str


_FAST_EXIT = RiskConfig(stops=(StopRule("trailing", 0.05),), take_profit=TakeProfit("percent", 0.08))

STRATEGIES = {
    e.name: e
    for e in (
        StrategyEntry("momentum", Momentum, MomentumParams, ("SPY", "QQQ", "SMH"), False, _FAST_EXIT,
                      "scenario 1: tilt into tech/semis while they lead; trailing stop and take-profit"),
        StrategyEntry("neutral", Neutral, NeutralParams, ("SPY",), True, RiskConfig(),
                      "scenario 2: half exposure by limit orders, delta-hedged with index puts or calls"),
        StrategyEntry("defensive", Defensive, DefensiveParams, ("SPY", "XLE", "XLP", "XLF", "BIL"), True,
                      RiskConfig(), "scenario 3: energy/staples/financials/T-bills plus index puts"),
        StrategyEntry("playbook", Switching, SwitchingParams,
                      ("SPY", "QQQ", "SMH", "XLE", "XLP", "XLF", "BIL"), True, RiskConfig(),
                      "the regime classifier picks scenario 1, 2 or 3 each session"),
        StrategyEntry("benchmark", Benchmark, BenchmarkParams, ("SPY",), False, RiskConfig(),
                      "buy and hold the index"),
    )
}


def get_strategy(name: str) -> StrategyEntry:
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}{did_you_mean(name, STRATEGIES)}; "
                          f"choose from {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def build_params(name: str, overrides: dict | None = None):
    """The strategy's parameter dataclass with `overrides` (a mapping from a config file) applied;
    nested playbooks of the switching strategy take nested mappings."""
    return _build(get_strategy(name).params_type, overrides or {}, name)


def _build(cls, overrides: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in overrides.items():
        if key not in fields:
            raise ConfigError(f"unknown parameter {key!r} for {where}{did_you_mean(key, fields)}; "
                              f"known: {', '.join(fields)}")
        default = fields[key].default_factory() if fields[key].default_factory is not dataclasses.MISSING \
            else fields[key].default
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = _build(type(default), value, f"{where}.{key}")
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for {where}: {exc}") from None
