"""Every strategy the CLI can run, by name, with its parameters, symbols and default risk rules."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from strategies.benchmark import Benchmark
from strategies.defensive import Defensive
from strategies.errors import ConfigError
from strategies.momentum import Momentum
from strategies.neutral import Neutral
from strategies.playbook import Playbook
from strategies.risk import RiskConfig, did_you_mean
from strategies.switching import Switching


@dataclass(frozen=True)
class StrategyEntry:
    """A built-in playbook by name: its class (a strategies.playbook.Playbook, the same surface a
    user's playbook has) and what the CLI lists about it."""

    name: str
    playbook: type[Playbook]
    params_type: type
    symbols: tuple[str, ...]  # what it may trade; the first is the option underlying
    uses_options: bool
    default_risk: RiskConfig
    summary: str

    def build(self, params=None) -> Playbook:
        return self.playbook(params)


def _entry(cls: type[Playbook]) -> StrategyEntry:
    return StrategyEntry(cls.name, cls, cls.params_type, cls.symbols, cls.uses_options, cls.default_risk,
                         cls.summary)


STRATEGIES = {e.name: e for e in map(_entry, (Momentum, Neutral, Defensive, Switching, Benchmark))}


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
